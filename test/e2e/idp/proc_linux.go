//go:build linux

package idp

import "syscall"

// sysProcAttr makes the kernel kill the child if the test binary dies without
// running its cleanups (for example on a -timeout panic).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
