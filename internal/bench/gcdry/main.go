// Command gcdry runs distribution's garbage collector as a dry run on a
// registry storage directory through the filesystem driver: the exact work
// of `registry garbage-collect --dry-run`. MarkAndSweep prints what it
// would delete on stdout; the harness sends that to /dev/null.
//
//	gcdry -root DIR [-delete-untagged]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

func main() {
	root := flag.String("root", "", "the registry's storage rootdirectory")
	untagged := flag.Bool("delete-untagged", false, "as garbage-collect --delete-untagged")
	flag.Parse()
	if *root == "" {
		fmt.Fprintln(os.Stderr, "usage: gcdry -root DIR [-delete-untagged]")
		os.Exit(2)
	}
	if err := run(context.Background(), *root, *untagged); err != nil {
		fmt.Fprintln(os.Stderr, "gcdry:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, root string, untagged bool) error {
	drv, err := factory.Create(ctx, "filesystem", map[string]any{"rootdirectory": root})
	if err != nil {
		return fmt.Errorf("create filesystem driver: %w", err)
	}
	ns, err := storage.NewRegistry(ctx, drv)
	if err != nil {
		return fmt.Errorf("open registry: %w", err)
	}
	if err := storage.MarkAndSweep(ctx, drv, ns, storage.GCOpts{DryRun: true, RemoveUntagged: untagged}); err != nil {
		return fmt.Errorf("mark and sweep: %w", err)
	}
	return nil
}
