// Command floor reads every link file under repositories/ and every
// manifest a revision link names, once each, in parallel: a floor for any
// indexer of the tree, which must at least find and read those files.
//
//	floor -root DIR [-workers N]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

func main() {
	root := flag.String("root", "", "the registry's storage rootdirectory")
	workers := flag.Int("workers", runtime.NumCPU()*4, "directories read at once")
	flag.Parse()
	if *root == "" {
		fmt.Fprintln(os.Stderr, "usage: floor -root DIR [-workers N]")
		os.Exit(2)
	}
	v2 := filepath.Join(*root, "docker", "registry", "v2")
	r := &reader{sem: make(chan struct{}, *workers)}
	r.dir(filepath.Join(v2, "repositories"))
	r.wg.Wait()
	var manifests []string
	r.manifests.Range(func(k, _ any) bool {
		manifests = append(manifests, k.(string))
		return true
	})
	for _, hex := range manifests {
		r.spawn(func() { r.read(filepath.Join(v2, "blobs", "sha256", hex[:2], hex, "data")) })
	}
	r.wg.Wait()
	fmt.Fprintf(os.Stderr, "read %d files (%d manifests), %d bytes, %d errors\n",
		r.files.Load(), len(manifests), r.bytes.Load(), r.errors.Load())
	if r.errors.Load() > 0 {
		os.Exit(1)
	}
}

type reader struct {
	sem       chan struct{}
	wg        sync.WaitGroup
	manifests sync.Map // hex of every revision
	files     atomic.Int64
	bytes     atomic.Int64
	errors    atomic.Int64
}

// spawn runs f on a free worker, else right here.
func (r *reader) spawn(f func()) {
	select {
	case r.sem <- struct{}{}:
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() { <-r.sem }()
			f()
		}()
	default:
		f()
	}
}

func (r *reader) dir(p string) {
	entries, err := os.ReadDir(p)
	if err != nil {
		r.errors.Add(1)
		return
	}
	for _, e := range entries {
		full := filepath.Join(p, e.Name())
		switch {
		case e.IsDir():
			r.spawn(func() { r.dir(full) })
		case e.Name() == "link":
			r.read(full)
			if parent := filepath.Dir(filepath.Dir(p)); strings.HasSuffix(parent, "/_manifests/revisions") {
				r.manifests.Store(filepath.Base(p), struct{}{})
			}
		}
	}
}

func (r *reader) read(p string) {
	b, err := os.ReadFile(p)
	if err != nil {
		r.errors.Add(1)
		return
	}
	r.files.Add(1)
	r.bytes.Add(int64(len(b)))
}
