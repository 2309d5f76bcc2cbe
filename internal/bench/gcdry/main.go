// Command gcdry runs distribution's garbage collector as a dry run on a
// registry's storage: a storage directory through the filesystem driver,
// or the storage a registry config names (an S3 bucket, say) through its
// driver, as `registry garbage-collect --dry-run config.yml` does.
// MarkAndSweep prints what it would delete on stdout; the harness sends
// that to /dev/null.
//
//	gcdry (-root DIR | -config FILE) [-delete-untagged]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"
)

func main() {
	root := flag.String("root", "", "the registry's storage rootdirectory")
	config := flag.String("config", "", "the registry's config.yml")
	untagged := flag.Bool("delete-untagged", false, "as garbage-collect --delete-untagged")
	flag.Parse()
	if (*root == "") == (*config == "") {
		fmt.Fprintln(os.Stderr, "usage: gcdry (-root DIR | -config FILE) [-delete-untagged]")
		os.Exit(2)
	}
	if err := run(context.Background(), *root, *config, *untagged); err != nil {
		fmt.Fprintln(os.Stderr, "gcdry:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, root, config string, untagged bool) error {
	drv, err := openDriver(ctx, root, config)
	if err != nil {
		return err
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

// openDriver creates the driver as the registry's garbage-collect command
// does: from the config, or the filesystem driver on root.
func openDriver(ctx context.Context, root, config string) (storagedriver.StorageDriver, error) {
	if root != "" {
		drv, err := factory.Create(ctx, "filesystem", map[string]any{"rootdirectory": root})
		if err != nil {
			return nil, fmt.Errorf("create filesystem driver: %w", err)
		}
		return drv, nil
	}
	b, err := os.ReadFile(config)
	if err != nil {
		return nil, fmt.Errorf("read registry config: %w", err)
	}
	cfg, err := configuration.Parse(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("parse registry config: %w", err)
	}
	drv, err := factory.Create(ctx, cfg.Storage.Type(), cfg.Storage.Parameters())
	if err != nil {
		return nil, fmt.Errorf("create %s driver: %w", cfg.Storage.Type(), err)
	}
	return drv, nil
}
