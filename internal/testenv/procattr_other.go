//go:build !linux

package testenv

import "syscall"

// sysProcAttr has no parent-death signal outside Linux; t.Cleanup stops servers as usual.
func sysProcAttr() *syscall.SysProcAttr { return nil }
