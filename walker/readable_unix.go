//go:build unix

package walker

import (
	"io/fs"
	"os"
	"slices"
	"sync"
	"syscall"
)

// readable reports whether this process may read the file fi describes, by
// its permission bits: the owner's when the process owns it, the group's
// when the process is in its group, else the others'. Root reads
// everything. (An ACL can grant more; then the link is only read, not
// wrongly trusted.)
func readable(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return readableBits(fi.Mode().Perm(), st.Uid, st.Gid)
}

// readableBits is readable for a file's permission bits and owner.
func readableBits(perm fs.FileMode, uid, gid uint32) bool {
	switch euid := ids().euid; {
	case euid == 0:
		return true
	case int(uid) == euid:
		return perm&0o400 != 0
	case slices.Contains(ids().groups, int(gid)):
		return perm&0o040 != 0
	}
	return perm&0o004 != 0
}

// ids are the process's effective user and groups, asked once: the walk
// judges hundreds of thousands of links by them.
var ids = sync.OnceValue(func() struct {
	euid   int
	groups []int
} {
	gs, _ := os.Getgroups()
	return struct {
		euid   int
		groups []int
	}{os.Geteuid(), append(gs, os.Getegid())}
})
