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
	./walker:FuzzParseImageConfig

.PHONY: help build test unit fuzz bench lint demo sample clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## build build/regsql
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/regsql

test: unit fuzz ## run all tests, then each fuzz target for $(FUZZTIME)

unit:
	$(GO) test -count=1 ./...

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

bench: ## run the benchmarks
	$(GO) test -run='^$$' -bench=. -benchmem ./...

lint: ## gofmt, go vet, and a tidy go.mod
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

demo: build ## index the sample registry and print a few reports
	@mkdir -p build
	$(BIN) index --root $(SAMPLE) --db $(DEMO_DB)
	@echo; echo "## repositories by tags"
	$(BIN) query --db $(DEMO_DB) -o table "SELECT r.name AS repo, count(t.name) AS tags FROM repos r LEFT JOIN tags t ON t.repo_id = r.id WHERE r.listed GROUP BY r.id ORDER BY tags DESC, repo"
	@echo; echo "## untagged revisions"
	$(BIN) query --db $(DEMO_DB) -o table "SELECT r.name AS repo, u.digest FROM untagged_revisions u JOIN repos r ON r.id = u.repo_id ORDER BY 1, 2"
	@echo; echo "## where the space goes"
	$(BIN) query --db $(DEMO_DB) -o table "SELECT name AS repo, tags, revisions, total_bytes, unique_bytes, shared_bytes FROM repo_usage ORDER BY total_bytes DESC"
	@echo; echo "## problems found"
	$(BIN) query --db $(DEMO_DB) -o table "SELECT kind, path, message FROM problems ORDER BY kind, path"

sample: ## rebuild testdata/sample-registry through a real in-process registry
	$(GO) run ./internal/sample/gen -out $(SAMPLE)

clean: ## remove build output
	rm -rf build
