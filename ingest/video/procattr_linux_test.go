package video_test

import "syscall"

// sysProcAttr makes the kernel kill ffmpeg when the test binary dies
// (a -timeout panic, kill -9), which would skip the cleanups.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
