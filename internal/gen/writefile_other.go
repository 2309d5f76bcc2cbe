//go:build !unix

package gen

import (
	"fmt"
	"os"
	"time"
)

// writeFile creates path exclusively, writes data and sets its times.
func writeFile(path string, data []byte, at time.Time) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write file: %w", err)
	}
	if err := os.Chtimes(path, at, at); err != nil {
		return fmt.Errorf("set file time: %w", err)
	}
	return nil
}
