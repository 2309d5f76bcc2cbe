package gc

import "errors"

// ErrExecuted is returned by Plan.Execute when the plan has been executed
// before: a plan describes the storage at one moment and runs once.
var ErrExecuted = errors.New("garbage collection plan already executed")

// ErrIncomplete is returned by Plan.Execute when some removals failed. What
// failed is journaled; running gc again plans it anew.
var ErrIncomplete = errors.New("garbage collection incomplete")
