package loadproc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStop(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		wantErr bool // had to be killed
	}{
		{"obeys SIGTERM", "echo up; exec sleep 60", false},
		{"ignores SIGTERM", "trap '' TERM; echo up; while :; do sleep 0.05; done", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Start("sh", "/bin/sh", []string{"-c", tt.script}, filepath.Join(t.TempDir(), "sh.log"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.WaitFor(5*time.Second, func() error {
				if c.LogTail(1) != "up" {
					return os.ErrNotExist
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if c.Exited() {
				t.Fatal("exited early")
			}
			err = c.Stop(300 * time.Millisecond)
			if (err != nil) != tt.wantErr {
				t.Errorf("stop: %v, want error %v", err, tt.wantErr)
			}
			if !c.Exited() || c.Err() == nil {
				t.Errorf("after stop: exited %v, wait %v", c.Exited(), c.Err())
			}
			if c.Stop(time.Second) != nil {
				t.Error("second stop of an exited child failed")
			}
		})
	}
}

func TestStartLogAndEnv(t *testing.T) {
	log := filepath.Join(t.TempDir(), "x.log")
	run := func(appendLog bool, word string) {
		t.Helper()
		c, err := Start("sh", "/bin/sh", []string{"-c", `echo "$WORD"`}, log, Options{Append: appendLog, Env: []string{"WORD=" + word}})
		if err != nil {
			t.Fatal(err)
		}
		<-c.Done()
		if c.Err() != nil {
			t.Fatal(c.Err())
		}
	}
	run(false, "one")
	run(true, "two")
	if b, _ := os.ReadFile(log); string(b) != "one\ntwo\n" {
		t.Errorf("append: log %q", b)
	}
	run(false, "three")
	if b, _ := os.ReadFile(log); string(b) != "three\n" {
		t.Errorf("truncate: log %q", b)
	}
}

func TestWaitForExited(t *testing.T) {
	c, err := Start("sh", "/bin/sh", []string{"-c", "echo last words; exit 3"}, filepath.Join(t.TempDir(), "sh.log"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = c.WaitFor(5*time.Second, func() error { return os.ErrNotExist })
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "last words") {
		t.Errorf("waitFor on a dead child: %v", err)
	}
	if _, err := Start("x", "/nonexistent/bin", nil, filepath.Join(t.TempDir(), "x.log"), Options{}); err == nil {
		t.Error("start of a missing binary succeeded")
	}
}

func TestFreePorts(t *testing.T) {
	for name, f := range map[string]func() (int, error){"tcp": FreePort, "udp": FreeUDPPort} {
		p, err := f()
		if err != nil || p <= 0 || p > 65535 {
			t.Errorf("%s: port %d, %v", name, p, err)
		}
	}
}
