package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/lawfleet/fleet/internal/loadproc"
)

// MediaMTX is the relay most people would pick, and it is built on the
// same RTSP library. v1.14.0 is its last release on gortsplib v4, the
// version this module uses.
const (
	mediamtxModule  = "github.com/bluenviron/mediamtx"
	mediamtxVersion = "v1.14.0"
)

// ensureMediaMTX returns bin if it exists, else builds MediaMTX there
// from its module. `go install module@version` fails on it: the release
// embeds files that its go:generate steps download (the version string
// and hls.js, for its browser page), and those are not in the module.
// The build puts a version file and an empty hls.js in their place; this
// tool never opens MediaMTX's browser page.
func ensureMediaMTX(ctx context.Context, bin string, logf func(string, ...any)) error {
	if _, err := os.Stat(bin); err == nil {
		return nil
	}
	logf("building MediaMTX %s into %s (once; about a minute)", mediamtxVersion, bin)
	began := time.Now()
	tmp, err := os.MkdirTemp("", "videoload-mediamtx-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// Outside any module, so that the download does not touch go.mod.
	goCmd := func(dir string, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false")
		out, err := cmd.Output()
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			err = fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, ee.Stderr)
		}
		return out, err
	}
	out, err := goCmd(tmp, "mod", "download", "-json", mediamtxModule+"@"+mediamtxVersion)
	if err != nil {
		return err
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return fmt.Errorf("go mod download: no module directory in %q", out)
	}
	src := filepath.Join(tmp, "src")
	if err := os.CopyFS(src, os.DirFS(mod.Dir)); err != nil {
		return fmt.Errorf("copy the MediaMTX module: %w", err)
	}
	generated := map[string]string{
		"internal/core/VERSION":           mediamtxVersion,
		"internal/servers/hls/hls.min.js": "/* not used by videoload */\n",
	}
	for name, body := range generated {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return err
	}
	if _, err := goCmd(src, "build", "-o", bin+".tmp", "."); err != nil {
		return fmt.Errorf("build MediaMTX: %w", err)
	}
	if err := os.Rename(bin+".tmp", bin); err != nil {
		return err
	}
	logf("built MediaMTX in %s", time.Since(began).Round(time.Second))
	return nil
}

// mediamtxRelay is MediaMTX configured like fleetd's relay: RTSP over
// TCP, LL-HLS with the same segment and part lengths, WebRTC over one
// loopback UDP port; anyone may publish and read. By default it makes
// HLS of a stream only once someone asks for it, as its users run it and
// as fleetd does; -mediamtx-always-remux has it make HLS of every stream.
type mediamtxRelay struct {
	ch                *loadproc.Child
	rtsp, hls, webrtc int
	k                 int
}

const mediamtxConfig = `logLevel: info
logDestinations: [stdout]
readTimeout: 10s
writeTimeout: 10s
writeQueueSize: 512
authMethod: internal
authInternalUsers:
- user: any
  pass:
  ips: []
  permissions:
  - action: publish
  - action: read
api: no
metrics: no
pprof: no
playback: no
rtsp: yes
rtspTransports: [tcp]
rtspEncryption: "no"
rtspAddress: 127.0.0.1:%[1]d
rtspAuthMethods: [basic]
rtmp: no
hls: yes
hlsAddress: 127.0.0.1:%[2]d
hlsEncryption: no
hlsAlwaysRemux: %[5]s
hlsVariant: lowLatency
hlsSegmentCount: 7
hlsSegmentDuration: 1s
hlsPartDuration: 200ms
hlsMuxerCloseAfter: 60s
webrtc: yes
webrtcAddress: 127.0.0.1:%[3]d
webrtcEncryption: no
webrtcLocalUDPAddress: 127.0.0.1:%[4]d
webrtcLocalTCPAddress: ''
webrtcIPsFromInterfaces: no
webrtcAdditionalHosts: [127.0.0.1]
webrtcICEServers2: []
srt: no
pathDefaults:
  source: publisher
paths:
  all_others:
`

func startMediaMTX(bin, dir string, k int, alwaysRemux bool) (*mediamtxRelay, error) {
	m := &mediamtxRelay{k: k}
	for _, p := range []*int{&m.rtsp, &m.hls, &m.webrtc} {
		port, err := loadproc.FreePort()
		if err != nil {
			return nil, err
		}
		*p = port
	}
	udp, err := loadproc.FreeUDPPort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "mediamtx.yml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, mediamtxConfig, m.rtsp, m.hls, m.webrtc, udp, yesNo(alwaysRemux)), 0o644); err != nil {
		return nil, err
	}
	ch, err := loadproc.Start("mediamtx", bin, []string{conf}, filepath.Join(dir, "mediamtx.log"), loadproc.Options{})
	if err != nil {
		return nil, err
	}
	m.ch = ch
	err = ch.WaitFor(30*time.Second, func() error {
		for _, p := range []int{m.rtsp, m.hls, m.webrtc} {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second)
			if err != nil {
				return err
			}
			c.Close()
		}
		return nil
	})
	if err != nil {
		ch.Stop(15 * time.Second)
		return nil, err
	}
	return m, nil
}

func (m *mediamtxRelay) path(i int) string {
	if i == m.k {
		return "marker"
	}
	return fmt.Sprintf("s%d", i)
}

func (m *mediamtxRelay) name() string          { return relayMediaMTX }
func (m *mediamtxRelay) proc() *loadproc.Child { return m.ch }
func (m *mediamtxRelay) stop() error           { return m.ch.Stop(30 * time.Second) }

func (m *mediamtxRelay) pushURL(i int) string {
	return fmt.Sprintf("rtsp://127.0.0.1:%d/%s", m.rtsp, m.path(i))
}

func (m *mediamtxRelay) rtspURL(i int) string {
	return fmt.Sprintf("rtsp://127.0.0.1:%d/%s", m.rtsp, m.path(i))
}

func (m *mediamtxRelay) hlsURL(i int) string {
	return fmt.Sprintf("http://127.0.0.1:%d/%s/index.m3u8", m.hls, m.path(i))
}

func (m *mediamtxRelay) whepURL(i int) string {
	return fmt.Sprintf("http://127.0.0.1:%d/%s/whep", m.webrtc, m.path(i))
}

func (m *mediamtxRelay) serves(string) error { return nil }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
