package s3test

import (
	"os/exec"
	"syscall"
)

// setParentDeath kills versitygw when the test binary dies without running
// its cleanups (a timeout panic, a kill), so that no server outlives it.
func setParentDeath(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
