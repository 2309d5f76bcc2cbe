// Command profile builds an index of a storage tree in-process with CPU and
// heap profiles, for `go tool pprof`:
//
//	profile -root DIR -db FILE [-cpu cpu.out] [-heap heap.out]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/walker"
)

func main() {
	root := flag.String("root", "", "the registry's storage directory")
	db := flag.String("db", "", "the index database to build")
	cpu := flag.String("cpu", "cpu.out", "CPU profile file")
	heap := flag.String("heap", "heap.out", "heap profile file, written at the end of the build")
	flag.Parse()
	if *root == "" || *db == "" {
		fmt.Fprintln(os.Stderr, "usage: profile -root DIR -db FILE [-cpu FILE] [-heap FILE]")
		os.Exit(2)
	}
	if err := run(*root, *db, *cpu, *heap); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}

func run(root, db, cpu, heap string) error {
	st, err := walker.OpenRoot(root)
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
	sum, err := index.Build(context.Background(), db, st, index.BuildOptions{Root: root, Driver: "filesystem", Full: true})
	pprof.StopCPUProfile()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d manifests, %d blobs in %s\n", sum.Manifests, sum.Blobs, sum.Duration)
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
