package bench

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/regsql/regsql/internal/gen"
)

// Change is a change made to a cached tree, to measure an incremental
// index: Revert puts the tree back as generated.
type Change struct {
	tree   Tree
	churn  *gen.Churn
	marker []byte
}

// ChangeTree changes fraction of the repositories of t with
// gen.ChangeTree. It first removes the tree's completeness marker, so that
// a run stopped before Revert leaves a tree EnsureTree generates again
// rather than one that is not what its parameters say.
func ChangeTree(t Tree, fraction float64, seed int64) (*Change, error) {
	marker := filepath.Join(t.Dir, statsFile)
	b, err := os.ReadFile(marker)
	if err != nil {
		return nil, fmt.Errorf("read tree marker: %w", err)
	}
	if err := os.Remove(marker); err != nil {
		return nil, fmt.Errorf("mark tree changed: %w", err)
	}
	c := &Change{tree: t, marker: b}
	c.churn, err = gen.ChangeTree(t.Dir, fraction, seed)
	if err != nil {
		if c.churn != nil {
			if uerr := c.Revert(); uerr != nil {
				return nil, fmt.Errorf("%w; then: %v", err, uerr)
			}
		}
		return nil, err
	}
	return c, nil
}

// Stats says what the change did.
func (c *Change) Stats() gen.ChurnStats { return c.churn.Stats }

// Revert undoes the change and marks the tree complete again.
func (c *Change) Revert() error {
	if err := c.churn.Undo(); err != nil {
		return fmt.Errorf("revert change of the %s tree: %w", c.tree.Preset, err)
	}
	if err := os.WriteFile(filepath.Join(c.tree.Dir, statsFile), c.marker, 0o644); err != nil {
		return fmt.Errorf("mark tree complete: %w", err)
	}
	return nil
}
