//go:build !linux

package video_test

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
