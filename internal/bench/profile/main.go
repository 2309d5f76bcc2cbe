// Command profile builds an index of a storage tree, or of the storage a
// registry config names (an S3 bucket, say), in-process with CPU and heap
// profiles, for `go tool pprof`:
//
//	profile (-root DIR | -config FILE) -db FILE [-cpu cpu.out] [-heap heap.out] [-block block.out] [-incremental]
//
// With -incremental, an index already at -db is updated as regsql index
// updates one; otherwise the build is a full one.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/walker"
)

func main() {
	root := flag.String("root", "", "the registry's storage directory")
	config := flag.String("config", "", "the registry's config.yml")
	db := flag.String("db", "", "the index database to build")
	cpu := flag.String("cpu", "cpu.out", "CPU profile file")
	heap := flag.String("heap", "heap.out", "heap profile file, written at the end of the build")
	block := flag.String("block", "", "if set, a profile of where goroutines wait (channels, locks, select), written at the end of the build")
	incremental := flag.Bool("incremental", false, "update the index at -db when it can be (as regsql index does), rather than build it anew")
	flag.Parse()
	if *block != "" {
		runtime.SetBlockProfileRate(int((100 * time.Microsecond).Nanoseconds()))
		defer writeBlockProfile(*block)
	}
	if (*root == "") == (*config == "") || *db == "" {
		fmt.Fprintln(os.Stderr, "usage: profile (-root DIR | -config FILE) -db FILE [-cpu FILE] [-heap FILE]")
		os.Exit(2)
	}
	if err := run(*root, *config, *db, *cpu, *heap, !*incremental); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}

func run(root, config, db, cpu, heap string, full bool) error {
	st, driver, err := open(root, config)
	if err != nil {
		return err
	}
	f, err := os.Create(cpu)
	if err != nil {
		return fmt.Errorf("create CPU profile: %w", err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return fmt.Errorf("start CPU profile: %w", err)
	}
	sum, err := index.Build(context.Background(), db, st, index.BuildOptions{Root: root + config, Driver: driver, Full: full, Progress: timeline(st)})
	pprof.StopCPUProfile()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d manifests, %d blobs in %s\n", sum.Manifests, sum.Blobs, sum.Duration)
	if ds, ok := st.(*walker.DriverStorage); ok {
		fmt.Fprintf(os.Stderr, "%s storage: %s\n", driver, ds.Requests())
	}
	h, err := os.Create(heap)
	if err != nil {
		return fmt.Errorf("create heap profile: %w", err)
	}
	defer h.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(h); err != nil {
		return fmt.Errorf("write heap profile: %w", err)
	}
	return nil
}

// timeline returns a progress function that prints, at most once a
// second, how far the build got, with the requests made so far when st
// counts them: where the time of a build goes.
func timeline(st walker.Storage) func(walker.Progress) {
	start, last := time.Now(), time.Now()
	return func(p walker.Progress) {
		if time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		reqs := ""
		if ds, ok := st.(*walker.DriverStorage); ok {
			reqs = ds.Requests().String()
		}
		fmt.Fprintf(os.Stderr, "%6.1fs %5d repos %6d manifests %6d blobs %s\n", time.Since(start).Seconds(), p.Repos, p.Manifests, p.Blobs, reqs)
	}
}

// open opens the storage as regsql index does: a directory (--root), or
// the storage of a registry config (--config).
func open(root, config string) (walker.Storage, string, error) {
	if root != "" {
		st, err := walker.OpenRoot(root)
		return st, "filesystem", err
	}
	return walker.OpenConfig(context.Background(), config, walker.DriverOptions{})
}

// writeBlockProfile writes the block profile to file, or says why not.
func writeBlockProfile(file string) {
	f, err := os.Create(file)
	if err == nil {
		err = pprof.Lookup("block").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile: block profile:", err)
	}
}
