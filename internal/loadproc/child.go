// Package loadproc provides the processes a load tool starts and
// measures: servers and load generators run as child processes, stopped
// by their own PID, and /proc samples of any process's CPU, memory and
// runqueue wait. cmd/fleetload and cmd/videoload share it.
package loadproc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Child is a process a load tool started (influxd, fleetd, mosquitto, a
// relay, an ffmpeg pusher). It is stopped by its own PID, never by name.
type Child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // Wait's result, once done is closed
}

// Options are Start's optional settings.
type Options struct {
	// Append opens the log with O_APPEND instead of truncating it, so a
	// restarted child keeps its predecessor's last words.
	Append bool
	// Env is added to this process's environment.
	Env []string
}

// Start starts bin with its output in logPath. The child gets SIGTERM if
// this process dies first, so a killed run leaves nothing behind.
func Start(name, bin string, args []string, logPath string, opts Options) (*Child, error) {
	mode := os.O_TRUNC
	if opts.Append {
		mode = os.O_APPEND
	}
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|mode, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if len(opts.Env) > 0 {
		cmd.Env = append(os.Environ(), opts.Env...)
	}
	// Own process group: a Ctrl-C reaches only the tool, which then stops
	// the children in order (load first, store or relay last).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &Child{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		log.Close()
		close(c.done)
	}()
	return c, nil
}

// Name is the name the child was started with.
func (c *Child) Name() string { return c.name }

// PID is the child's process ID.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// LogPath is the file holding the child's output.
func (c *Child) LogPath() string { return c.logPath }

// Done is closed when the process has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Err is the process's exit status (exec.Cmd.Wait's result); it is only
// meaningful once Done is closed.
func (c *Child) Err() error { return c.err }

// Exited reports whether the process is gone.
func (c *Child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to grace, then SIGKILL. The error says
// the child had to be killed.
func (c *Child) Stop(grace time.Duration) error {
	if c.Exited() {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return nil
	case <-time.After(grace):
	}
	_ = c.cmd.Process.Kill()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
	}
	return fmt.Errorf("%s (pid %d) ignored SIGTERM for %s: killed", c.name, c.PID(), grace)
}

// LogTail is the last n lines of the child's output, for error messages.
func (c *Child) LogTail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// WaitFor polls ready every 100 ms until it succeeds, the child exits or
// timeout passes.
func (c *Child) WaitFor(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if c.Exited() {
			return fmt.Errorf("%s exited (%v):\n%s", c.name, c.err, c.LogTail(20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w\n%s", c.name, timeout, err, c.LogTail(20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// FreePort asks the kernel for a free loopback TCP port. Another process
// may take it before the child binds it; the child then fails to start
// and says so.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// FreeUDPPort is FreePort for UDP.
func FreeUDPPort() (int, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port, nil
}
