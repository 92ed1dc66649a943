package testenv

import "syscall"

// sysProcAttr makes the kernel kill a server when the test binary dies (go test's -timeout
// panic, a crash, kill -9), which would skip t.Cleanup and leave it holding ports and memory.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
