//go:build !unix

package index

import "io/fs"

// fileID says there is no inode to tell one index file from another here:
// graph snapshots are not used.
func fileID(fs.FileInfo) (dev, ino uint64, ok bool) { return 0, 0, false }
