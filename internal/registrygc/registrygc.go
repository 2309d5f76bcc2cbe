package registrygc

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"
)

// Result is what a MarkAndSweep dry run says it would delete, each list
// sorted and without duplicates.
type Result struct {
	Blobs      []digest.Digest
	Manifests  []string // "repo@digest": revisions deleted with --delete-untagged
	LayerLinks []string // "repo@digest"
	Output     string   // everything it printed
}

// stdoutMu serialises the capture of os.Stdout, a process-wide resource.
var stdoutMu sync.Mutex

// DryRun runs distribution's garbage collector on drv as a dry run, with
// removeUntagged as --delete-untagged, and parses its "eligible for
// deletion" lines. An error is MarkAndSweep's own (it aborts on a bad link
// or a manifest it cannot read), with what it printed until then.
func DryRun(ctx context.Context, drv storagedriver.StorageDriver, removeUntagged bool) (Result, error) {
	out, err := captureStdout(func() error {
		ns, err := storage.NewRegistry(ctx, drv)
		if err != nil {
			return fmt.Errorf("open registry: %w", err)
		}
		return storage.MarkAndSweep(ctx, drv, ns, storage.GCOpts{DryRun: true, RemoveUntagged: removeUntagged})
	})
	if err != nil {
		return Result{Output: out}, fmt.Errorf("registry garbage collect: %w", err)
	}
	res, err := Parse(out)
	if err != nil {
		return res, err
	}
	return res, nil
}

// Parse reads the lines MarkAndSweep prints:
//
//	blob eligible for deletion: <digest>
//	manifest eligible for deletion: {<repo> <digest> [<tags>]}
//	<repo>: layer link eligible for deletion: <digest>
func Parse(out string) (Result, error) {
	res := Result{Output: out}
	blobs, manifests, links := map[digest.Digest]bool{}, map[string]bool{}, map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if d, ok := strings.CutPrefix(line, "blob eligible for deletion: "); ok {
			blobs[digest.Digest(d)] = true
			continue
		}
		if m, ok := strings.CutPrefix(line, "manifest eligible for deletion: {"); ok {
			f := strings.Fields(m)
			if len(f) < 2 {
				return res, fmt.Errorf("parse garbage collector line %q: want {repo digest [tags]}", line)
			}
			manifests[f[0]+"@"+f[1]] = true
			continue
		}
		if repo, d, ok := strings.Cut(line, ": layer link eligible for deletion: "); ok {
			links[repo+"@"+d] = true
		}
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("read garbage collector output: %w", err)
	}
	res.Blobs = sortedKeys(blobs)
	res.Manifests = sortedKeys(manifests)
	res.LayerLinks = sortedKeys(links)
	return res, nil
}

func sortedKeys[K ~string](m map[K]bool) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// captureStdout runs f with os.Stdout redirected into a pipe and returns
// what f printed. Standard output is restored even if f panics.
func captureStdout(f func() error) (out string, err error) {
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	r, w, err := os.Pipe()
	if err != nil {
		return "", fmt.Errorf("capture standard output: %w", err)
	}
	var buf strings.Builder
	done := make(chan struct{})
	go func() {
		io.Copy(&buf, r) //nolint:errcheck // the pipe closes when f is done
		close(done)
	}()
	saved := os.Stdout
	os.Stdout = w
	defer func() {
		os.Stdout = saved
		w.Close()
		<-done
		r.Close()
		out = buf.String()
	}()
	return "", f()
}
