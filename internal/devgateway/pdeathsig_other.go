//go:build !linux

package devgateway

import "os/exec"

// setParentDeathSignal: only Linux has one; elsewhere Stop ends the gateway.
func setParentDeathSignal(*exec.Cmd) {}
