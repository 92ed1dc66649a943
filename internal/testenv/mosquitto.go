package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const mosquittoReadyTimeout = 20 * time.Second

// Mosquitto is a Mosquitto MQTT broker for one test.
type Mosquitto struct {
	Addr string // 127.0.0.1:port
	URL  string // tcp://127.0.0.1:port, as paho.mqtt.golang takes it

	t    testing.TB
	proc *process
}

// StartMosquitto starts a broker on a free loopback port, without persistence, and stops it when
// the test ends. Anonymous clients may connect unless extraConf sets allow_anonymous itself.
// extraConf is appended to the config as is (e.g. "password_file /path" or
// "max_queued_messages 100000"); as it comes after the listener line, per-listener options in it
// apply to that listener when it sets per_listener_settings.
func StartMosquitto(t testing.TB, extraConf string) *Mosquitto {
	t.Helper()
	bin := binary(t, EnvMosquitto, "mosquitto", "/usr/sbin/mosquitto")
	dir := t.TempDir()
	m := &Mosquitto{t: t}
	for attempt := 1; ; attempt++ {
		port := FreePort(t)
		conf := filepath.Join(dir, "mosquitto.conf")
		if err := os.WriteFile(conf, []byte(mosquittoConfig(port, extraConf)), 0o644); err != nil {
			t.Fatalf("testenv: mosquitto config: %v", err)
		}
		m.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		m.URL = "tcp://" + m.Addr
		m.proc = &process{bin: bin, args: []string{"-c", conf}, logPath: filepath.Join(dir, "mosquitto.log")}
		err := m.start()
		if err == nil {
			break
		}
		if attempt < 3 && m.proc.portTaken() {
			_ = m.proc.stop()
			continue
		}
		_ = m.proc.stop()
		t.Fatalf("testenv: mosquitto: %v\n%s", err, m.proc.logTail(30))
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: mosquitto log (%s), last lines:\n%s", m.proc.logPath, m.proc.logTail(20))
		}
		if err := m.proc.stop(); err != nil {
			t.Errorf("testenv: stop mosquitto: %v", err)
		}
	})
	return m
}

func mosquittoConfig(port int, extraConf string) string {
	var b strings.Builder
	// As root Mosquitto drops to user mosquitto, who cannot write in the test's dir; as any other
	// user this line has no effect.
	b.WriteString("user root\n")
	b.WriteString("persistence false\n")
	b.WriteString("log_dest stderr\n")
	fmt.Fprintf(&b, "listener %d 127.0.0.1\n", port)
	if !hasOption(extraConf, "allow_anonymous") {
		b.WriteString("allow_anonymous true\n")
	}
	if extraConf != "" {
		b.WriteString(extraConf)
		b.WriteString("\n")
	}
	return b.String()
}

// hasOption reports whether conf has a line setting option.
func hasOption(conf, option string) bool {
	for line := range strings.Lines(conf) {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == option {
			return true
		}
	}
	return false
}

// Stop stops the broker and waits for it to exit, so a test can see how its code copes with the
// broker gone. Call it from the test's goroutine.
func (m *Mosquitto) Stop() {
	m.t.Helper()
	if err := m.proc.stop(); err != nil {
		m.t.Fatalf("testenv: stop mosquitto: %v", err)
	}
}

// Start starts a stopped broker again on the same port. Sessions and retained messages are gone:
// persistence is off.
func (m *Mosquitto) Start() {
	m.t.Helper()
	if err := m.start(); err != nil {
		_ = m.proc.stop()
		m.t.Fatalf("testenv: restart mosquitto: %v\n%s", err, m.proc.logTail(30))
	}
}

func (m *Mosquitto) start() error {
	if err := m.proc.start(); err != nil {
		return err
	}
	return m.proc.waitReady(mosquittoReadyTimeout, func() error {
		c, err := net.DialTimeout("tcp", m.Addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
}
