package firmware_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/devices/sim"
	"github.com/lawfleet/fleet/devices/sim/paho"
	"github.com/lawfleet/fleet/firmware"
	"github.com/lawfleet/fleet/firmware/sqlfirmware"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/blobstore/disk"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
	"github.com/lawfleet/fleet/ingest"
	"github.com/lawfleet/fleet/ingest/mqttbroker"
	"github.com/lawfleet/fleet/ingest/series"
	"github.com/lawfleet/fleet/web"
)

type nopWriter struct{}

func (nopWriter) Write(context.Context, []series.Point) error { return nil }

// env is the service's firmware path, real end to end: the register on
// SQLite, the embedded MQTT broker, the ingest pipeline, the firmware
// manager, the HTTP API, and paho devices running the simulator's agent.
type env struct {
	t      *testing.T
	reg    *fleet.Register
	admin  fleet.User
	token  string
	unit   fleet.Unit
	mgr    *firmware.Manager
	blobs  *disk.Store
	http   *httptest.Server
	broker *mqttbroker.Broker
	key    ed25519.PrivateKey
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := sqlstore.Open(ctx, sqltest.SQLiteDSN(t), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, reg: fleet.NewRegister(db, nil)}
	if _, err := e.reg.Bootstrap(ctx, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if e.token, e.admin, err = e.reg.Login(ctx, "admin", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if e.unit, err = e.reg.CreateUnit(ctx, e.admin, fleet.UnitInput{Code: "420000", Name: "湖北省交通运输厅", Level: fleet.LevelProvince}); err != nil {
		t.Fatal(err)
	}
	metrics := prometheus.NewRegistry()
	live, err := ingest.NewLive(ingest.LiveConfig{}, nil, metrics)
	if err != nil {
		t.Fatal(err)
	}
	if e.blobs, err = disk.New(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	_, e.key, _ = ed25519.GenerateKey(rand.Reader)
	var notifier firmware.NotifierFunc = func(ctx context.Context, id, name string, v any) error {
		return ingest.NewCommands(e.broker, nil).Send(ctx, id, name, v)
	}
	e.mgr, err = firmware.New(firmware.Config{Tick: 20 * time.Millisecond, TempDir: t.TempDir()}, firmware.Deps{
		Store: sqlfirmware.New(db), Blobs: e.blobs, Keys: &firmware.Keys{Signer: e.key}, Devices: e.reg,
		Notifier: notifier, Logger: log,
		Live: firmware.LiveStateFunc(func(id string) (firmware.DeviceStatus, bool) {
			p, ok := live.Get(id)
			return firmware.DeviceStatus{Online: p.Online, Recording: p.Recording != nil && *p.Recording}, ok
		}),
		DownloadURL: func(path string) string { return e.http.URL + path },
	})
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := ingest.NewPipeline(ingest.Config{}, ingest.Deps{Writer: nopWriter{}, Directory: e.reg,
		Live: live, Firmware: e.mgr, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.broker, err = mqttbroker.New(mqttbroker.Config{Addr: "127.0.0.1:0"}, e.reg, pipe, metrics, log)
	if err != nil {
		t.Fatal(err)
	}
	api := web.New(web.Config{}, web.Deps{Register: e.reg, Logger: log})
	api.MountFirmware(e.mgr)
	e.http = httptest.NewServer(api.Handler())

	runCtx, stop := context.WithCancel(context.Background())
	pipeDone, mgrDone := make(chan struct{}), make(chan struct{})
	go func() { pipe.Run(runCtx); close(pipeDone) }()
	go func() { e.mgr.Run(runCtx); close(mgrDone) }()
	if err := e.broker.Start(runCtx); err != nil {
		t.Fatal(err)
	}
	// Reverse order of start: intake first.
	t.Cleanup(func() {
		e.http.Close()
		e.broker.Close()
		stop()
		<-pipeDone
		<-mgrDone
		e.mgr.Close()
	})
	return e
}

// devices registers n recorders of model DSJ-A8 on version 1.0, connects
// each over MQTT and starts its firmware agent.
func (e *env) devices(n int, cfg sim.FirmwareConfig) []*sim.FirmwareAgent {
	t := e.t
	cfg.Trusted = []ed25519.PublicKey{e.key.Public().(ed25519.PublicKey)}
	var agents []*sim.FirmwareAgent
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for i := range n {
		nd, err := e.reg.CreateDevice(t.Context(), e.admin, fleet.DeviceInput{Kind: fleet.KindRecorder,
			Serial: fmt.Sprintf("A8-%s-%03d", t.Name()[len(t.Name())-3:], i), Model: "DSJ-A8", UnitID: e.unit.ID, FirmwareVersion: "1.0"})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := (&paho.Dialer{URL: "tcp://" + e.broker.Addr()}).Dial(t.Context(), sim.Device{ID: nd.ID, Secret: nd.MQTTSecret})
		if err != nil {
			t.Fatal(err)
		}
		a := sim.NewFirmwareAgent(cfg, nd.ID, "1.0", uint64(i), conn.Publish)
		if err := a.Listen(ctx, conn.(sim.Subscriber)); err != nil {
			t.Fatal(err)
		}
		agents = append(agents, a)
		t.Cleanup(func() { cancel(); a.Wait(); conn.Close() })
	}
	return agents
}

// do sends an API request as the admin and decodes the JSON answer.
func (e *env) do(method, path, contentType string, body io.Reader, out any) int {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.http.URL+"/api/v1"+path, body)
	req.Header.Set("Authorization", "Bearer "+e.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

// upload posts an image as multipart, fields first.
func (e *env) upload(fields map[string]string, image []byte, out any) int {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, k := range []string{"model", "version", "release_notes", "signature", "sha256"} {
		if v, ok := fields[k]; ok {
			w.WriteField(k, v)
		}
	}
	fw, _ := w.CreateFormFile("file", "a8.bin")
	fw.Write(image)
	w.Close()
	return e.do(http.MethodPost, "/firmware/images", w.FormDataContentType(), &b, out)
}

func (e *env) campaign(imageID string, waves []float64, maxRate float64) firmware.CampaignView {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"name": "A8 to 2.0", "image_id": imageID, "unit_id": e.unit.ID,
		"waves": waves, "soak_s": 1, "max_failure_rate": maxRate})
	var v firmware.CampaignView
	if st := e.do(http.MethodPost, "/firmware/campaigns", "application/json", bytes.NewReader(body), &v); st != http.StatusCreated {
		e.t.Fatalf("create campaign: HTTP %d", st)
	}
	return v
}

func (e *env) waitCampaign(id string, done func(firmware.CampaignView) bool) firmware.CampaignView {
	e.t.Helper()
	var v firmware.CampaignView
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		v = firmware.CampaignView{}
		e.do(http.MethodGet, "/firmware/campaigns/"+id, "", nil, &v)
		if done(v) {
			return v
		}
	}
	e.t.Fatalf("campaign stuck: %s %+v %+v", v.State, v.Progress, v.WaveList)
	return v
}

func image(n int) ([]byte, string) {
	b := bytes.Repeat([]byte("DSJ-A8 firmware 2.0\n"), n)
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

// A rollout over MQTT: every wave opens after the previous one soaked,
// every device downloads (resuming after a dropped link), checks and
// installs, and the register learns the new versions.
func TestRolloutOverMQTT(t *testing.T) {
	e := newEnv(t)
	agents := e.devices(10, sim.FirmwareConfig{DropAfterBytes: 50_000, ChunkBytes: 32 << 10})
	img, _ := image(10_000) // 200 kB
	var fi firmware.Image
	if st := e.upload(map[string]string{"model": "DSJ-A8", "version": "2.0", "release_notes": "修复定位漂移"}, img, &fi); st != http.StatusCreated {
		t.Fatalf("upload: HTTP %d", st)
	}
	c := e.campaign(fi.ID, []float64{10, 50, 100}, 0.1)
	v := e.waitCampaign(c.ID, func(v firmware.CampaignView) bool { return v.State == firmware.CampaignCompleted })
	if v.Progress.Done != 10 || v.Wave != 2 {
		t.Fatalf("completed with %+v at wave %d", v.Progress, v.Wave)
	}
	for i, w := range v.WaveList {
		if w.State != firmware.WaveDone || w.Done != []int{1, 4, 5}[i] {
			t.Errorf("wave %d: %+v", i, w)
		}
	}
	for _, a := range agents {
		if a.Version() != "2.0" {
			t.Errorf("device runs %s", a.Version())
		}
	}
	devs, _, _ := e.reg.Devices(t.Context(), e.admin, fleet.DeviceFilter{})
	for _, d := range devs {
		if d.FirmwareVersion != "2.0" {
			t.Errorf("register: %s on %s", d.ID, d.FirmwareVersion)
		}
	}
}

// The campaign halts once failures pass the maximum; the later waves are
// never told. Rollbacks count as failures.
func TestHaltOverMQTT(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  sim.FirmwareConfig
		want string
	}{
		{"install fails", sim.FirmwareConfig{FailRate: 1}, "flash write failed"},
		{"rolls back", sim.FirmwareConfig{RollbackRate: 1}, "rolled back"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.devices(10, tc.cfg)
			img, _ := image(100)
			var fi firmware.Image
			if st := e.upload(map[string]string{"model": "DSJ-A8", "version": "2.0"}, img, &fi); st != http.StatusCreated {
				t.Fatalf("upload: HTTP %d", st)
			}
			c := e.campaign(fi.ID, []float64{50, 100}, 0.2)
			v := e.waitCampaign(c.ID, func(v firmware.CampaignView) bool { return v.State == firmware.CampaignHalted })
			if v.WaveList[1].Pending != 5 || v.Wave != 0 {
				t.Errorf("the second wave was told: %+v", v.WaveList[1])
			}
			var jobs web.List[firmware.Job]
			e.do(http.MethodGet, "/firmware/campaigns/"+c.ID+"/jobs", "", nil, &jobs)
			failed := 0
			for _, j := range jobs.Items {
				if j.State == firmware.JobFailed {
					failed++
					if !strings.Contains(j.Error, tc.want) {
						t.Errorf("job error %q", j.Error)
					}
				}
			}
			if failed == 0 {
				t.Error("no failed job")
			}
			body := strings.NewReader(`{"reason":"try again"}`)
			if st := e.do(http.MethodPost, "/firmware/campaigns/"+c.ID+"/resume", "application/json", body, nil); st != http.StatusConflict {
				t.Errorf("resume a halted campaign: HTTP %d", st)
			}
		})
	}
}

// The service refuses images whose bytes or signature do not check out,
// at upload and again before telling devices of a stored image.
func TestServiceRefusesBadImages(t *testing.T) {
	e := newEnv(t)
	img, sum := image(100)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name   string
		fields map[string]string
		code   string
	}{
		{"hash mismatch", map[string]string{"model": "DSJ-A8", "version": "2.0", "sha256": strings.Repeat("ab", 32)}, firmware.EHashMismatch},
		{"bad signature", map[string]string{"model": "DSJ-A8", "version": "2.0",
			"signature": firmware.Sign(stranger, "DSJ-A8", "2.0", int64(len(img)), sum)}, firmware.EBadSignature},
		{"garbage signature", map[string]string{"model": "DSJ-A8", "version": "2.0", "signature": "bm90IGEgc2lnbmF0dXJl"}, firmware.EBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var eb web.ErrorBody
			if st := e.upload(tc.fields, img, &eb); st != http.StatusUnprocessableEntity || eb.Error.Code != tc.code {
				t.Fatalf("HTTP %d %+v, want 422 %s", st, eb, tc.code)
			}
		})
	}
	// Tampered in storage after upload: no campaign may start with it.
	e.devices(1, sim.FirmwareConfig{})
	var fi firmware.Image
	if st := e.upload(map[string]string{"model": "DSJ-A8", "version": "2.0", "sha256": sum}, img, &fi); st != http.StatusCreated {
		t.Fatalf("upload: HTTP %d", st)
	}
	blob, _ := e.blobs.Open(t.Context(), sum)
	blob.Close()
	if err := writeFile(e.blobs.Path(sum), append([]byte("X"), img[1:]...)); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"name": "A8", "image_id": fi.ID, "unit_id": e.unit.ID})
	var eb web.ErrorBody
	if st := e.do(http.MethodPost, "/firmware/campaigns", "application/json", bytes.NewReader(body), &eb); st != http.StatusUnprocessableEntity || eb.Error.Code != firmware.EHashMismatch {
		t.Fatalf("campaign of a tampered image: HTTP %d %+v", st, eb)
	}
}

// Downloads: only with the job's token or the device's own credentials,
// only the image the device was told of, and resumable with Range.
func TestDownloadAuthorisationAndRange(t *testing.T) {
	e := newEnv(t)
	img, sum := image(10_000)
	var fi firmware.Image
	if st := e.upload(map[string]string{"model": "DSJ-A8", "version": "2.0"}, img, &fi); st != http.StatusCreated {
		t.Fatalf("upload: HTTP %d", st)
	}
	// A device that is "recording" forever: it defers, so its job stays
	// notified → deferred; use a silent device instead, registered but not
	// listening, so its job stays notified with a live token.
	nd, err := e.reg.CreateDevice(t.Context(), e.admin, fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "A8-SILENT",
		Model: "DSJ-A8", UnitID: e.unit.ID, FirmwareVersion: "1.0"})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := e.reg.CreateDevice(t.Context(), e.admin, fleet.DeviceInput{Kind: fleet.KindVehicleTerminal, Serial: "T9-1",
		Model: "T9", UnitID: e.unit.ID, FirmwareVersion: "1.0"})
	// Hear the command as the device would.
	conn, err := (&paho.Dialer{URL: "tcp://" + e.broker.Addr()}).Dial(t.Context(), sim.Device{ID: nd.ID, Secret: nd.MQTTSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cmds := make(chan firmware.UpdateCommand, 4)
	conn.(sim.Subscriber).Subscribe("fleet/v1/"+nd.ID+"/cmd/firmware.update", 1, func(_ string, p []byte) {
		var c firmware.UpdateCommand
		json.Unmarshal(p, &c)
		cmds <- c
	})
	e.campaign(fi.ID, []float64{100}, 1)
	var cmd firmware.UpdateCommand
	select {
	case cmd = <-cmds:
	case <-time.After(20 * time.Second):
		t.Fatal("no firmware.update command")
	}
	if cmd.SHA256 != sum || cmd.Size != int64(len(img)) || cmd.Version != "2.0" ||
		!firmware.Verify(e.key.Public().(ed25519.PublicKey), cmd.Model, cmd.Version, cmd.Size, cmd.SHA256, cmd.Signature) {
		t.Fatalf("command %+v", cmd)
	}
	get := func(url, user, pass, rng string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	plain := e.http.URL + firmware.DownloadPath(fi.ID)
	for _, tc := range []struct {
		name, url, user, pass string
		want                  int
	}{
		{"no credentials", plain, "", "", http.StatusUnauthorized},
		{"wrong token", plain + "?job=" + cmd.Job + "&token=nope", "", "", http.StatusUnauthorized},
		{"wrong secret", plain, nd.ID, "nope", http.StatusUnauthorized},
		{"device not told", plain, other.ID, other.MQTTSecret, http.StatusForbidden},
		{"token", cmd.URL, "", "", http.StatusOK},
		{"device secret", plain, nd.ID, nd.MQTTSecret, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res, _ := get(tc.url, tc.user, tc.pass, ""); res.StatusCode != tc.want {
				t.Fatalf("HTTP %d, want %d", res.StatusCode, tc.want)
			}
		})
	}
	// A resumed download: the first 70,001 bytes, then the rest by Range.
	res, first := get(cmd.URL, "", "", "bytes=0-70000")
	if res.StatusCode != http.StatusPartialContent || len(first) != 70001 {
		t.Fatalf("first part: HTTP %d, %d bytes", res.StatusCode, len(first))
	}
	res, rest := get(cmd.URL, "", "", "bytes=70001-")
	if res.StatusCode != http.StatusPartialContent || res.Header.Get("Content-Range") != fmt.Sprintf("bytes 70001-%d/%d", len(img)-1, len(img)) {
		t.Fatalf("rest: HTTP %d %s", res.StatusCode, res.Header.Get("Content-Range"))
	}
	got := sha256.Sum256(append(first, rest...))
	if hex.EncodeToString(got[:]) != sum {
		t.Fatal("the resumed download does not hash to the image's SHA-256")
	}
}
