# regsql: `make demo` indexes the bundled sample registry and prints reports;
# `make test` runs every test. `make help` lists the rest.

GO       ?= go
BIN      := build/regsql
VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
SAMPLE   := testdata/sample-registry
DEMO_DB  := build/demo.db
FUZZTIME ?= 4s

# Fuzz targets run briefly by `make test`: package:target.
FUZZ_TARGETS := \
	./walker:FuzzParseLink \
	./walker:FuzzParseManifest \
	./walker:FuzzManifestHead \
	./walker:FuzzManifestOnePass \
	./walker:FuzzParseImageConfig \
	./walker:FuzzImageConfigAsEncodingJSON \
	./walker:FuzzParseETag \
	./index:FuzzParamNames \
	./queries:FuzzParse \
	./queries:FuzzReadCandidates \
	./usage:FuzzParseLogLine \
	./usage:FuzzParseEnvelope

.PHONY: help build test unit fuzz bench lint demo sample tools clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## build build/regsql
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/regsql

test: unit fuzz ## run all tests, then each fuzz target for $(FUZZTIME)

unit: tools
	VERSITYGW=$(CURDIR)/$(VERSITYGW) $(GO) test -count=1 ./...

# The S3 server the object-storage tests start (internal/s3test): built once
# into build/tools, under a name that carries its version, so that changing
# the version builds the new one. About 3 minutes on a fresh machine (module
# downloads included), nothing after.
VERSITYGW_VERSION := v1.8.0
VERSITYGW         := build/tools/versitygw-$(VERSITYGW_VERSION)

tools: $(VERSITYGW) ## build the test tools into build/tools (versitygw, the S3 server)

$(VERSITYGW):
	@mkdir -p build/tools/tmp
	GOBIN=$(CURDIR)/build/tools/tmp $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)
	mv build/tools/tmp/versitygw $@
	@rmdir build/tools/tmp

# Each target starts from its committed seeds only: inputs earlier runs left
# in Go's fuzz cache are replayed before the FUZZTIME clock's first tick, and
# on a machine that has fuzzed for a while they outlast it ("context
# deadline exceeded" while gathering baseline coverage). .ci/fuzz-one runs a
# target once more when Go's own fuzztime deadline race (golang/go#75804,
# fixed in Go 1.27) fails it without a failing input.
fuzz:
	$(GO) clean -fuzzcache
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		GO=$(GO) .ci/fuzz-one $$pkg $$fn $(FUZZTIME); \
	done

# `make bench` trees: any of small, medium, large (large takes minutes and
# about 3 GB of disk); RUNS measured runs each (LARGE_RUNS on large).
# S3_SIZES are measured again on S3 (versitygw), S3_RUNS times: the first
# time, a tree is uploaded into a bucket kept in .bench/s3 (minutes).
SIZES      ?= small medium
RUNS       ?= 3
LARGE_RUNS ?= 1
S3_SIZES   ?= medium
S3_RUNS    ?= 1
BENCH_DIR  := .bench

bench: tools ## compare regsql index with the registry's GC on generated trees (SIZES="small medium large"), on S3 too (S3_SIZES=medium), then run the Go benchmarks
	@mkdir -p $(BENCH_DIR)/bin
	$(GO) build -o $(BENCH_DIR)/bin/regsql ./cmd/regsql
	$(GO) build -o $(BENCH_DIR)/bin/gcdry ./internal/bench/gcdry
	$(GO) build -o $(BENCH_DIR)/bin/floor ./internal/bench/floor
	VERSITYGW=$(CURDIR)/$(VERSITYGW) $(GO) run ./internal/bench/run -bin $(BENCH_DIR)/bin -cache $(BENCH_DIR)/trees \
		-sizes "$(SIZES)" -runs $(RUNS) -large-runs $(LARGE_RUNS) -s3-sizes "$(S3_SIZES)" -s3-runs $(S3_RUNS)
	$(GO) test -run='^$$' -bench=. -benchmem ./...
	@# The walk alone and the database alone, on the largest tree of SIZES.
	@tree=; for s in $(SIZES); do for d in $(CURDIR)/$(BENCH_DIR)/trees/$$s-*/; do [ -f $$d/generated.json ] && tree=$$d; done; done; \
	if [ -n "$$tree" ]; then \
		echo "BenchmarkWalkTree, BenchmarkBuildTree: $$tree"; \
		REGSQL_BENCH_TREE=$$tree $(GO) test -run='^$$' -bench='Tree$$' -benchtime=3x -timeout=30m ./walker ./index; \
	fi

lint: ## gofmt, go vet, and a tidy go.mod
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

demo: build ## index the sample registry and print a few reports
	@mkdir -p build
	$(BIN) index --root $(SAMPLE) --db $(DEMO_DB)
	@echo; echo "## where the space goes (regsql run repo-usage)"
	@$(BIN) run repo-usage --db $(DEMO_DB) -o table
	@echo; echo "## manifests no tag reaches (regsql run untagged-manifests)"
	@$(BIN) run untagged-manifests --db $(DEMO_DB) -o table
	@echo; echo "## what the registry's own GC would delete (regsql run unreferenced-blobs)"
	@$(BIN) run unreferenced-blobs --db $(DEMO_DB) -o table
	@echo; echo "## old tags, every unprotected tag, as a candidate list (regsql run old-tags -p keep=0 -p older_than=0)"
	@$(BIN) run old-tags --db $(DEMO_DB) -p keep=0 -p older_than=0 -o csv | tee build/candidates.csv
	@echo; echo "## what deleting that list would free (regsql run reclaimable --from build/candidates.csv)"
	@$(BIN) run reclaimable --db $(DEMO_DB) --from build/candidates.csv -o table
	@echo; echo "## anomalies found (regsql run problems)"
	@$(BIN) run problems --db $(DEMO_DB) -o table
	@echo; echo "Try your own: $(BIN) query --db $(DEMO_DB) \"SELECT * FROM tags\""

sample: ## rebuild testdata/sample-registry through a real in-process registry
	$(GO) run ./internal/sample/gen -out $(SAMPLE)

clean: ## remove build output
	rm -rf build
