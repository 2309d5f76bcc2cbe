//go:build unix

package gen

import (
	"fmt"
	"syscall"
	"time"
)

// writeFile creates path exclusively, writes data and sets its times.
// It calls the system directly: os.OpenFile would also try to register
// each file with the network poller and query its flags, which more than
// doubles the system calls of a million tiny files.
func writeFile(path string, data []byte, at time.Time) error {
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, 0o666)
	if err != nil {
		return fmt.Errorf("create %q: %w", path, err)
	}
	for rest := data; len(rest) > 0; {
		n, err := syscall.Write(fd, rest)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			syscall.Close(fd)
			return fmt.Errorf("write %q: %w", path, err)
		}
		rest = rest[n:]
	}
	if err := syscall.Close(fd); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	ts := syscall.NsecToTimespec(at.UnixNano())
	if err := syscall.UtimesNano(path, []syscall.Timespec{ts, ts}); err != nil {
		return fmt.Errorf("set times of %q: %w", path, err)
	}
	return nil
}
