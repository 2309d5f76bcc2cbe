package walker

import (
	"context"
	"errors"
	"fmt"
	"os"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
)

// Remove implements Remover with os.RemoveAll.
func (s *DirStorage) Remove(ctx context.Context, p string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkRemovable(p); err != nil {
		return err
	}
	if err := os.RemoveAll(s.full(p)); err != nil {
		return fmt.Errorf("remove %q: %w", p, err)
	}
	return nil
}

// Remove implements Remover with the driver's recursive Delete (on S3, a
// listing of the prefix and a batch DELETE, counted as one delete request).
func (s *DriverStorage) Remove(ctx context.Context, p string) error {
	if err := checkRemovable(p); err != nil {
		return err
	}
	err := s.req.do(ctx, reqDelete, func() error {
		err := s.driver.Delete(ctx, driverPath(p))
		var nf storagedriver.PathNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return driverError(err)
	})
	if err != nil {
		return fmt.Errorf("remove %q: %w", p, err)
	}
	return nil
}
