// Package testenv gives tests real servers and tools: a PostgreSQL superuser DSN, InfluxDB 1.8
// and Mosquitto instances each test starts (and may stop and restart) on a free loopback port with
// its data in t.TempDir(), and the paths of ffmpeg, ffprobe and Chromium.
//
// scripts/test-all installs all of them and exports FLEET_TEST_* variables naming them. Without
// those variables a helper looks for the binary on PATH and in the test cache dir; when it is
// still missing the test fails under CI=true (CI must never skip silently) and is skipped
// otherwise, so a plain `go test` on a bare machine still runs the pure tests.
//
// It uses only the standard library and is imported only by _test.go files.
package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Environment variables set by scripts/test-all.
const (
	EnvPostgresURL = "FLEET_TEST_POSTGRES_URL"
	EnvInfluxd     = "FLEET_TEST_INFLUXD"
	EnvMosquitto   = "FLEET_TEST_MOSQUITTO"
	EnvFFmpeg      = "FLEET_TEST_FFMPEG"
	EnvFFprobe     = "FLEET_TEST_FFPROBE"
	EnvChromium    = "FLEET_TEST_CHROMIUM"
)

// FreePort returns a TCP port on 127.0.0.1 that nothing listened on a moment ago. Another
// process can still take it before the caller binds it; the Start helpers retry on that.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Postgres returns the DSN of a PostgreSQL superuser (FLEET_TEST_POSTGRES_URL), for tests that
// create their own databases. It fails at once when the server does not accept connections, so a
// stale variable shows up as such instead of as a driver timeout deep in a test.
func Postgres(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvPostgresURL)
	if dsn == "" {
		missing(t, "PostgreSQL: "+EnvPostgresURL+" is not set")
		return ""
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Fatalf("testenv: %s=%q is not a postgres:// URL with a host: %v", EnvPostgresURL, dsn, err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatalf("testenv: %s=%s: server not reachable: %v", EnvPostgresURL, dsn, err)
	}
	c.Close()
	return dsn
}

// FFmpeg returns the paths of ffmpeg and ffprobe.
func FFmpeg(t testing.TB) (ffmpeg, ffprobe string) {
	t.Helper()
	ffmpeg = binary(t, EnvFFmpeg, "ffmpeg")
	ffprobe = binary(t, EnvFFprobe, "ffprobe")
	return ffmpeg, ffprobe
}

// Chromium returns the path of a Chromium browser. As root it needs --no-sandbox, and here it
// must not reach the network: see shared/INFRA.md for the flags.
func Chromium(t testing.TB) string {
	t.Helper()
	return binary(t, EnvChromium, "chromium", "chromium-browser", "/usr/bin/chromium")
}

// binary finds a program a test needs: the path in env if set, else the first candidate that
// exists (a candidate with a slash is a path, otherwise a name looked up on PATH).
func binary(t testing.TB, env string, candidates ...string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		// Someone configured this path: if it is wrong, say so rather than skip.
		if err := checkExecutable(p); err != nil {
			t.Fatalf("testenv: %s: %v", env, err)
		}
		return p
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if filepath.IsAbs(c) {
			if checkExecutable(c) == nil {
				return c
			}
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	missing(t, fmt.Sprintf("%s not found (%s is not set)", filepath.Base(candidates[0]), env))
	return ""
}

// cachedBinary is where scripts/test-all caches the Go-built servers: it uses the same dir.
func cachedBinary(name string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "fleet-test", "bin", name)
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return errors.New(path + " is not an executable file")
	}
	return nil
}

// missing ends a test that lacks a server or tool: CI must have everything, so there it fails;
// elsewhere it skips with the cure.
func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("testenv: %s (CI=true, so this is an error: scripts/test-all installs it)", what)
	}
	t.Skipf("testenv: %s; run scripts/test-all to install and run with it", what)
}
