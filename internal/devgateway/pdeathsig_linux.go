package devgateway

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal ends the gateway with opa-sts, even if opa-sts is
// killed without a chance to stop it.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
