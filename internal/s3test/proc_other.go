//go:build !linux

package s3test

import "os/exec"

// setParentDeath has no equivalent outside Linux: Close stops the server.
func setParentDeath(*exec.Cmd) {}
