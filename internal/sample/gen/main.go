// Command gen rebuilds the sample registry: it starts a distribution
// registry in-process on a temporary directory, pushes the sample's content
// through the registry's API (package sample), and replaces the
// docker/registry/v2 tree under -out with what the registry wrote. Files
// beside docker/ (the README) are left alone.
//
//	go run ./internal/sample/gen -out testdata/sample-registry
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/internal/sample"
)

func main() {
	out := flag.String("out", "", "the sample registry's `DIR`: its docker/ tree is replaced")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: gen -out DIR")
		os.Exit(2)
	}
	if err := run(*out); err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
}

func run(out string) error {
	tmp, err := os.MkdirTemp("", "regsql-sample-")
	if err != nil {
		return fmt.Errorf("create temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	reg, err := registrytest.New(registrytest.WithRoot(tmp))
	if err != nil {
		return err
	}
	err = sample.Populate(reg.Client)
	reg.Close()
	if err != nil {
		return fmt.Errorf("populate the sample: %w", err)
	}

	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create %q: %w", out, err)
	}
	dst := filepath.Join(out, "docker")
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("remove the old sample: %w", err)
	}
	files, size, err := copyTree(filepath.Join(tmp, "docker"), dst)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %d files, %d bytes, under %s\n", files, size, dst)
	return nil
}

// copyTree copies the regular files under src to dst, keeping their
// modification times (they are push times to the walker). Empty directories
// are left out, as git leaves them out: a fresh checkout and a fresh run must
// give the same tree.
func copyTree(src, dst string) (files int, size int64, err error) {
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return errors.New("not a regular file: " + path)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(target, data, 0o644); err != nil {
			return err
		}
		files++
		size += int64(len(data))
		return os.Chtimes(target, info.ModTime(), info.ModTime())
	})
	if err != nil {
		return files, size, fmt.Errorf("copy the sample to %q: %w", dst, err)
	}
	return files, size, nil
}
