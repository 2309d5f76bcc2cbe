//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package walker

import (
	"context"
	"fmt"
)

// changeTimes says whether this system gives the change times a Rescan
// needs.
const changeTimes = false

func probeRepositories(context.Context, string, int64, map[string]Repository, func() (map[string]RepoDirs, error), map[string]bool, int) (map[string]Repository, []string, int, error) {
	return nil, nil, 0, fmt.Errorf("%w: this system does not give change times", ErrCannotRescan)
}

func shardChanged(string, string, int64) bool { return true }
