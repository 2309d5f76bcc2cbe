package bench

import "errors"

// ErrUnknownPreset is returned for a tree size the generator has no preset for.
var ErrUnknownPreset = errors.New("unknown tree preset")
