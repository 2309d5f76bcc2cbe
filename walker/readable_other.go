//go:build !unix

package walker

import "io/fs"

// readable is false where permission bits do not say: the link is then read.
func readable(fs.FileInfo) bool { return false }
