package gen

import "errors"

// ErrBadParams is returned by Generate when Params cannot describe a tree:
// no repositories, or a history too short to spread pushes over.
var ErrBadParams = errors.New("bad generator parameters")

// ErrExists is returned by Generate when the output directory already holds
// a docker/ directory: the generator only writes fresh trees, since mixing
// two would make neither reproducible.
var ErrExists = errors.New("output already holds a registry tree")
