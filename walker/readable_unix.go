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
	perm := fi.Mode().Perm()
	uid := os.Geteuid()
	switch {
	case uid == 0:
		return true
	case int(st.Uid) == uid:
		return perm&0o400 != 0
	case inGroup(int(st.Gid)):
		return perm&0o040 != 0
	}
	return perm&0o004 != 0
}

var groups = sync.OnceValue(func() []int {
	gs, _ := os.Getgroups()
	return append(gs, os.Getegid())
})

func inGroup(gid int) bool { return slices.Contains(groups(), gid) }
