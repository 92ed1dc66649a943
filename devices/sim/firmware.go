package sim

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/firmware"
)

// Subscriber is a Conn that can also receive commands (the paho adapter's
// connections are). A device subscribes to its own cmd/ topics only.
type Subscriber interface {
	Subscribe(filter string, qos byte, fn func(topic string, payload []byte)) error
}

// FirmwareConfig makes simulated devices follow the firmware protocol.
type FirmwareConfig struct {
	Client  *http.Client        // default http.DefaultClient
	Trusted []ed25519.PublicKey // the keys devices are built with
	// FailRate and RollbackRate are the shares of updates that fail to
	// install, and that reboot into the old version.
	FailRate, RollbackRate float64
	// ChunkBytes is how much one Range request asks for (default 64 KiB).
	ChunkBytes int64
	// DropAfterBytes cuts the first download of every job after this many
	// bytes, as a weak 4G link does; the device resumes with Range. 0:
	// never.
	DropAfterBytes int64
	// Busy reports whether the device is recording; a busy device defers.
	Busy func(deviceID string) bool
	// Reboot is how long an install and reboot take (default 0).
	Reboot time.Duration
}

// FirmwareAgent is one device's firmware client: told an update, it
// downloads the image (resuming with Range), checks its SHA-256 and
// ed25519 signature, refuses a tampered image, installs, "reboots" and
// reports the version it runs, on fleet/v1/{id}/firmware.
type FirmwareAgent struct {
	cfg     FirmwareConfig
	id      string
	publish func(topic string, qos byte, retained bool, payload []byte) error
	rng     *rand.Rand

	mu      sync.Mutex
	version string
	busyJob string // the job under way; a repeated command for it is ignored
	wg      sync.WaitGroup
}

// NewFirmwareAgent returns the agent of device id running version, which
// reports through publish.
func NewFirmwareAgent(cfg FirmwareConfig, id, version string, seed uint64,
	publish func(topic string, qos byte, retained bool, payload []byte) error) *FirmwareAgent {
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.ChunkBytes <= 0 {
		cfg.ChunkBytes = 64 << 10
	}
	return &FirmwareAgent{cfg: cfg, id: id, version: version, publish: publish, rng: rand.New(rand.NewPCG(seed, 0x6677))}
}

// Version is the firmware the device runs.
func (a *FirmwareAgent) Version() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.version
}

// errOffline is a firmware report while the device has no connection.
var errOffline = errors.New("sim: device offline")

// firmwareAgent is the agent of a simulated device: it reports through the
// device's connection of the moment and is busy while the device records.
func firmwareAgent(cfg FirmwareConfig, d *device, seed uint64) *FirmwareAgent {
	if cfg.Busy == nil {
		cfg.Busy = func(string) bool { return d.busy.Load() }
	}
	return NewFirmwareAgent(cfg, d.ID, d.Firmware, seed, func(topic string, qos byte, retained bool, payload []byte) error {
		c := d.connection()
		if c == nil {
			return errOffline
		}
		return c.Publish(topic, qos, retained, payload)
	})
}

// Listen subscribes the agent to its device's firmware.update command.
func (a *FirmwareAgent) Listen(ctx context.Context, s Subscriber) error {
	return s.Subscribe(devices.CommandTopic(a.id, firmware.CommandName), 1, func(_ string, payload []byte) {
		// Off the MQTT client's goroutine: a download takes minutes.
		a.wg.Go(func() { a.Handle(ctx, payload) })
	})
}

// Wait waits for updates under way.
func (a *FirmwareAgent) Wait() { a.wg.Wait() }

// Handle runs one firmware.update command to its end.
func (a *FirmwareAgent) Handle(ctx context.Context, payload []byte) {
	var cmd firmware.UpdateCommand
	if err := json.Unmarshal(payload, &cmd); err != nil || cmd.Job == "" {
		return // nothing to report against without a job
	}
	a.mu.Lock()
	if a.busyJob != "" {
		a.mu.Unlock()
		return
	}
	a.busyJob = cmd.Job
	from := a.version
	a.mu.Unlock()
	defer func() { a.mu.Lock(); a.busyJob = ""; a.mu.Unlock() }()

	if a.cfg.Busy != nil && a.cfg.Busy(a.id) {
		a.report(cmd.Job, firmware.ReportDeferred, nil, "", "recording")
		return
	}
	img, err := a.download(ctx, cmd)
	if err != nil {
		a.report(cmd.Job, firmware.ReportFailed, nil, "", err.Error())
		return
	}
	if err := a.check(cmd, img); err != nil {
		a.report(cmd.Job, firmware.ReportFailed, nil, "", err.Error())
		return
	}
	a.report(cmd.Job, firmware.ReportInstalling, nil, "", "")
	a.mu.Lock()
	p := a.rng.Float64()
	a.mu.Unlock()
	if p < a.cfg.FailRate {
		a.report(cmd.Job, firmware.ReportFailed, nil, "", "flash write failed")
		return
	}
	if a.cfg.Reboot > 0 {
		select {
		case <-time.After(a.cfg.Reboot):
		case <-ctx.Done():
			return
		}
	}
	if p < a.cfg.FailRate+a.cfg.RollbackRate {
		// The new image did not boot; the bootloader went back.
		a.report(cmd.Job, firmware.ReportDone, nil, from, "")
		return
	}
	a.mu.Lock()
	a.version = cmd.Version
	a.mu.Unlock()
	a.report(cmd.Job, firmware.ReportDone, nil, cmd.Version, "")
}

// download fetches the image in Range requests, resuming after a drop.
func (a *FirmwareAgent) download(ctx context.Context, cmd firmware.UpdateCommand) ([]byte, error) {
	if cmd.Size <= 0 || cmd.Size > 1<<30 {
		return nil, fmt.Errorf("implausible size %d", cmd.Size)
	}
	buf := make([]byte, 0, cmd.Size)
	dropped := a.cfg.DropAfterBytes <= 0
	lastPct := -1.0 // none reported yet
	for fails := 0; int64(len(buf)) < cmd.Size; {
		end := min(int64(len(buf))+a.cfg.ChunkBytes, cmd.Size) - 1
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cmd.URL, nil)
		if err != nil {
			return nil, fmt.Errorf("download: %w", err)
		}
		req.Header.Set("Range", "bytes="+strconv.Itoa(len(buf))+"-"+strconv.FormatInt(end, 10))
		req.Header.Set("If-Range", `"`+cmd.SHA256+`"`)
		res, err := a.cfg.Client.Do(req)
		if err != nil {
			if fails++; fails > 5 || ctx.Err() != nil {
				return nil, fmt.Errorf("download: %w", err)
			}
			continue
		}
		var body io.Reader = res.Body
		if !dropped && int64(len(buf))+a.cfg.ChunkBytes > a.cfg.DropAfterBytes {
			// The link drops mid-chunk: keep what arrived, resume later.
			body = io.LimitReader(res.Body, max(0, a.cfg.DropAfterBytes-int64(len(buf))))
			dropped = true
		}
		switch res.StatusCode {
		case http.StatusPartialContent:
			if want := "bytes " + strconv.Itoa(len(buf)) + "-"; !bytes.HasPrefix([]byte(res.Header.Get("Content-Range")), []byte(want)) {
				res.Body.Close()
				return nil, fmt.Errorf("download: server answered range %q", res.Header.Get("Content-Range"))
			}
		case http.StatusOK:
			buf = buf[:0] // the whole image, from the start
		default:
			res.Body.Close()
			return nil, fmt.Errorf("download: HTTP %d", res.StatusCode)
		}
		n, err := io.Copy(writerTo{&buf, cmd.Size}, body)
		res.Body.Close()
		if err != nil && !errors.Is(err, errTooLong) {
			if fails++; fails > 5 {
				return nil, fmt.Errorf("download: %w", err)
			}
		} else if errors.Is(err, errTooLong) {
			return nil, errors.New("download: more bytes than the command said")
		}
		if n > 0 {
			fails = 0
		}
		// Reports every 10%, not every chunk: progress costs airtime.
		if pct := float64(len(buf)) * 100 / float64(cmd.Size); pct >= lastPct+10 || lastPct < 0 {
			lastPct = pct
			a.report(cmd.Job, firmware.ReportDownloading, &pct, "", "")
		}
	}
	a.report(cmd.Job, firmware.ReportDownloaded, ptrTo(100.0), "", "")
	return buf, nil
}

var errTooLong = errors.New("too long")

type writerTo struct {
	buf   *[]byte
	limit int64
}

func (w writerTo) Write(p []byte) (int, error) {
	if int64(len(*w.buf)+len(p)) > w.limit {
		return 0, errTooLong
	}
	*w.buf = append(*w.buf, p...)
	return len(p), nil
}

// check verifies what was downloaded against the command, and the
// command's signature against the keys the device trusts: a device flashes
// nothing that the signing key did not sign, whoever told it to.
func (a *FirmwareAgent) check(cmd firmware.UpdateCommand, img []byte) error {
	sum := sha256.Sum256(img)
	if got := hex.EncodeToString(sum[:]); got != cmd.SHA256 {
		return fmt.Errorf("sha256 mismatch: image hashes to %s, command says %s", got, cmd.SHA256)
	}
	for _, k := range a.cfg.Trusted {
		if firmware.Verify(k, cmd.Model, cmd.Version, int64(len(img)), cmd.SHA256, cmd.Signature) {
			return nil
		}
	}
	return errors.New("bad signature: no trusted key signed this image")
}

func (a *FirmwareAgent) report(job, state string, pct *float64, version, errText string) {
	b, _ := json.Marshal(struct {
		TS       int64    `json:"ts"`
		Job      string   `json:"job"`
		State    string   `json:"state"`
		Progress *float64 `json:"progress,omitempty"`
		Version  string   `json:"version,omitempty"`
		Error    string   `json:"error,omitempty"`
	}{time.Now().UnixMilli(), job, state, pct, version, errText})
	// QoS 1: a lost "done" would leave the job to time out.
	_ = a.publish(devices.DeviceTopic(a.id, devices.TopicFirmware), 1, false, b)
}

func ptrTo[T any](v T) *T { return &v }
