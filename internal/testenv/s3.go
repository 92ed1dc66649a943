package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// EnvVersitygw names the versitygw binary (S3-compatible gateway over a
// directory), installed by scripts/test-all.
const EnvVersitygw = "FLEET_TEST_VERSITYGW"

// S3 is a versitygw S3 endpoint for one test, backed by a fresh directory.
type S3 struct {
	Endpoint  string // 127.0.0.1:port, plain HTTP
	AccessKey string
	SecretKey string
}

// StartS3 starts versitygw on a free loopback port and stops it when the
// test ends.
func StartS3(t testing.TB) *S3 {
	t.Helper()
	bin := binary(t, EnvVersitygw, "versitygw", cachedBinary("versitygw"))
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatalf("testenv: versitygw dir: %v", err)
	}
	s := &S3{AccessKey: "fleettest", SecretKey: "fleettest-secret"}
	var proc *process
	for attempt := 1; ; attempt++ {
		s.Endpoint = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		proc = &process{bin: bin, logPath: filepath.Join(dir, "versitygw.log"),
			args: []string{"--access", s.AccessKey, "--secret", s.SecretKey, "--port", s.Endpoint, "posix", data}}
		err := proc.start()
		if err == nil {
			err = proc.waitReady(20*time.Second, func() error {
				c, err := net.DialTimeout("tcp", s.Endpoint, time.Second)
				if err == nil {
					c.Close()
				}
				return err
			})
		}
		if err == nil {
			break
		}
		_ = proc.stop()
		if attempt < 3 && proc.portTaken() {
			continue
		}
		t.Fatalf("testenv: versitygw: %v\n%s", err, proc.logTail(30))
	}
	t.Cleanup(func() {
		if err := proc.stop(); err != nil {
			t.Errorf("testenv: stop versitygw: %v", err)
		}
	})
	return s
}
