//go:build !linux

package idp

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
