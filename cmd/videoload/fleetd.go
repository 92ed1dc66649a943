package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/internal/loadproc"
)

// relay is a relay under test, started as a child process: where the
// pushers push, and where each kind of viewer reads. Stream i < K is a
// pusher's, stream K the marker's.
type relay interface {
	name() string
	proc() *loadproc.Child
	pushURL(i int) string // with credentials
	rtspURL(i int) string // for readers, with credentials
	hlsURL(i int) string  // multivariant playlist
	whepURL(i int) string
	// serves says why this tool cannot read the relay over proto, or nil.
	serves(proto string) error
	stop() error
}

const adminPassword = "videoload-admin-1" // of the throw-away register only

// readerSecretFlag and readerSecretEnv set the password of fleetd's own
// RTSP readers, which are the only RTSP readers it lets in.
const (
	readerSecretFlag = "video-reader-secret"
	readerSecretEnv  = "FLEET_VIDEO_READER_SECRET"
	readerUsername   = "fleet-reader" // video.DefaultReaderUsername
)

func newSecret() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// buildFleetd builds cmd/fleetd of the module this tool is run in.
func buildFleetd(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "bin", "fleetd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/lawfleet/fleet/cmd/fleetd")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build fleetd (run from the module, or pass -fleetd): %w", err)
	}
	return bin, nil
}

// fleetdFlags lists the flags a fleetd binary knows, from its -h: the
// tool sets the optional ones (reader secret, WebRTC port) only where
// they exist, so it runs against older and newer builds alike.
func fleetdFlags(bin string) map[string]bool {
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllSubmatch(out, -1) {
		flags[string(m[1])] = true
	}
	return flags
}

var servingLine = regexp.MustCompile(`msg=serving http=(\S+) .*rtsp=(\S+)`)

// fleetdRelay is fleetd with an embedded register of K+1 recorders.
type fleetdRelay struct {
	ch           *loadproc.Child
	httpAddr     string
	rtspAddr     string
	token        string // an admin's session, for HLS and WHEP
	devs         []loadDevice
	readerSecret string // "" when this fleetd cannot be told one
	webrtc       bool
}

type loadDevice struct{ ID, Secret string }

func startFleetd(ctx context.Context, bin, dir string, streams int, extraEnv, extraArgs []string) (*fleetdRelay, error) {
	flags := fleetdFlags(bin)
	dataDir := filepath.Join(dir, "fleetd-data")
	if err := os.RemoveAll(dataDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, err
	}
	f := &fleetdRelay{}
	args := []string{"-data", dataDir, "-http", "127.0.0.1:0", "-rtsp", "127.0.0.1:0", "-mqtt", "127.0.0.1:0",
		"-admin-password", adminPassword, "-log-level", "info"}
	env := append([]string(nil), extraEnv...)
	if flags[readerSecretFlag] {
		f.readerSecret = newSecret()
		env = append(env, readerSecretEnv+"="+f.readerSecret)
	}
	// WebRTC media on one loopback UDP port, if this build has WebRTC:
	// bound to loopback, the relay offers only loopback candidates, and
	// the tool's peers use loopback only. (Its default, :8189 on every
	// interface, would also clash between runs.)
	if flags["webrtc-udp"] {
		port, err := loadproc.FreeUDPPort()
		if err != nil {
			return nil, err
		}
		args = append(args, "-webrtc-udp", fmt.Sprintf("127.0.0.1:%d", port))
		f.webrtc = true
	}
	args = append(args, extraArgs...)
	ch, err := loadproc.Start("fleetd", bin, args, filepath.Join(dir, "fleetd.log"), loadproc.Options{Env: env})
	if err != nil {
		return nil, err
	}
	f.ch = ch
	err = ch.WaitFor(time.Minute, func() error {
		b, _ := os.ReadFile(ch.LogPath())
		m := servingLine.FindSubmatch(b)
		if m == nil {
			return fmt.Errorf("no serving line yet")
		}
		f.httpAddr, f.rtspAddr = string(m[1]), strings.Trim(string(m[2]), `"`)
		return nil
	})
	if err == nil {
		err = f.register(ctx, streams)
	}
	if err != nil {
		ch.Stop(15 * time.Second)
		return nil, err
	}
	return f, nil
}

// register signs in as the admin and creates the recorders through the
// HTTP API, as an operator would; their MQTT secret is also their RTSP
// push password.
func (f *fleetdRelay) register(ctx context.Context, n int) error {
	cl := &http.Client{Timeout: 30 * time.Second}
	base := "http://" + f.httpAddr + "/api/v1"
	call := func(path, token string, body, out any) error {
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("POST %s: %s: %s", path, resp.Status, msg)
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
	var s struct{ Token string }
	if err := call("/session", "", map[string]string{"username": "admin", "password": adminPassword}, &s); err != nil {
		return err
	}
	f.token = s.Token
	var u fleet.Unit
	if err := call("/units", s.Token, fleet.UnitInput{Code: "420000", Name: "湖北省", Level: fleet.LevelProvince}, &u); err != nil {
		return err
	}
	for i := range n {
		var d fleet.NewDevice
		in := fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: fmt.Sprintf("VIDEOLOAD-%04d", i), UnitID: u.ID}
		if err := call("/devices", s.Token, in, &d); err != nil {
			return err
		}
		f.devs = append(f.devs, loadDevice{ID: d.ID, Secret: d.MQTTSecret})
	}
	return nil
}

func (f *fleetdRelay) name() string          { return relayFleetd }
func (f *fleetdRelay) proc() *loadproc.Child { return f.ch }
func (f *fleetdRelay) stop() error           { return f.ch.Stop(30 * time.Second) }
func (f *fleetdRelay) id(i int) string       { return f.devs[i].ID }

func (f *fleetdRelay) pushURL(i int) string {
	d := f.devs[i]
	u := url.URL{Scheme: "rtsp", User: url.UserPassword(d.ID, d.Secret), Host: f.rtspAddr, Path: "/" + d.ID}
	return u.String()
}

func (f *fleetdRelay) rtspURL(i int) string {
	u := url.URL{Scheme: "rtsp", User: url.UserPassword(readerUsername, f.readerSecret), Host: f.rtspAddr, Path: "/" + f.id(i)}
	return u.String()
}

func (f *fleetdRelay) hlsURL(i int) string {
	return "http://" + f.httpAddr + "/video/" + f.id(i) + "/index.m3u8?token=" + url.QueryEscape(f.token)
}

func (f *fleetdRelay) whepURL(i int) string {
	return "http://" + f.httpAddr + "/video/" + f.id(i) + "/whep?token=" + url.QueryEscape(f.token)
}

func (f *fleetdRelay) serves(proto string) error {
	switch {
	case proto == protoRTSP && f.readerSecret == "":
		return fmt.Errorf("this fleetd has no -%s flag: its RTSP readers' password cannot be set", readerSecretFlag)
	case proto == protoWebRTC && !f.webrtc:
		return fmt.Errorf("this fleetd has no -webrtc-udp flag")
	}
	return nil
}
