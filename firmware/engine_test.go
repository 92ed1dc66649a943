package firmware

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/blobstore/disk"
)

// behaviour is what a fake device does when told to update.
type behaviour int

const (
	succeeds  behaviour = iota
	fails               // reports failed
	rollsBack           // comes back on the old version
	silent              // never answers
)

// fakeFleet is the register, the live state and the devices in one: told
// to update, a device answers after simulated minutes, from a goroutine of
// the test's bubble.
type fakeFleet struct {
	t  *testing.T
	m  *Manager
	mu sync.Mutex
	ds map[string]*fakeDevice
	wg sync.WaitGroup
}

type fakeDevice struct {
	fleet.Device
	does      behaviour
	recording bool
	told      int
}

func (f *fakeFleet) add(id, version string, does behaviour) {
	f.ds[id] = &fakeDevice{Device: fleet.Device{ID: id, Model: "DSJ-A8", UnitID: "u1", Status: fleet.StatusAssigned,
		FirmwareVersion: version}, does: does}
}

func (f *fakeFleet) Devices(_ context.Context, _ fleet.User, _ fleet.DeviceFilter) ([]fleet.Device, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fleet.Device
	for _, d := range f.ds {
		out = append(out, d.Device)
	}
	return out, "", nil
}

func (f *fakeFleet) LookupDevice(_ context.Context, id string) (fleet.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.ds[id]; ok {
		return d.Device, nil
	}
	return fleet.Device{}, fleet.Errorf(fleet.ENOTFOUND, "no")
}

func (f *fakeFleet) UnitPath(_ context.Context, id string) (string, error) {
	return "/" + id + "/", nil
}

func (f *fakeFleet) AuthenticateDevice(_ context.Context, id, secret string) (fleet.Device, error) {
	if secret != "secret-"+id {
		return fleet.Device{}, fleet.Errorf(fleet.EUNAUTHORIZED, "no")
	}
	return f.LookupDevice(context.Background(), id)
}

func (f *fakeFleet) UpdateDevice(_ context.Context, _ fleet.User, id string, p fleet.DevicePatch) (fleet.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ds[id].FirmwareVersion = *p.FirmwareVersion
	return f.ds[id].Device, nil
}

func (f *fakeFleet) RecordAudit(context.Context, fleet.User, string, string, string, string, any, any) error {
	return nil
}

func (f *fakeFleet) DeviceStatus(id string) (DeviceStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return DeviceStatus{Online: true, Recording: f.ds[id].recording}, true
}

func (f *fakeFleet) setRecording(id string, on bool) {
	f.mu.Lock()
	f.ds[id].recording = on
	f.mu.Unlock()
}

func (f *fakeFleet) Send(_ context.Context, id, name string, v any) error {
	cmd := v.(UpdateCommand)
	f.mu.Lock()
	d := f.ds[id]
	d.told++
	does, from := d.does, d.FirmwareVersion
	f.mu.Unlock()
	if name != CommandName || !strings.Contains(cmd.URL, "token=") {
		f.t.Errorf("command %s %+v", name, cmd)
	}
	if does == silent {
		return nil
	}
	f.wg.Go(func() {
		report := func(state, version, errText string) {
			time.Sleep(time.Minute)
			p := devices.FirmwareProgress{Time: time.Now(), Job: cmd.Job, State: state, Version: version, Error: errText}
			if err := f.m.HandleFirmwareProgress(context.Background(), id, p); err != nil {
				f.t.Errorf("report %s: %v", state, err)
			}
		}
		report(ReportDownloading, "", "")
		switch does {
		case succeeds:
			report(ReportInstalling, "", "")
			report(ReportDone, cmd.Version, "")
		case fails:
			report(ReportFailed, "", "flash write error")
		case rollsBack:
			report(ReportInstalling, "", "")
			report(ReportDone, from, "")
		}
	})
	return nil
}

func (f *fakeFleet) told(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ds[id].told
}

var manager = fleet.User{ID: "usr_1", Username: "zhang", Role: fleet.RoleEquipmentManager}

// testManager builds a manager over fakes with one uploaded image of
// DSJ-A8 version 2.0.
func testManager(t *testing.T, f *fakeFleet, cfg Config) (*Manager, Image) {
	t.Helper()
	blobs, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	cfg.TempDir = t.TempDir()
	m, err := New(cfg, Deps{Store: newMemStore(), Blobs: blobs, Keys: &Keys{Signer: key}, Devices: f, Live: f, Notifier: f})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	img, err := m.UploadImage(t.Context(), manager, ImageInput{Model: "DSJ-A8", Version: "2.0"}, strings.NewReader("firmware 2.0"))
	if err != nil {
		t.Fatal(err)
	}
	return m, img
}

func newFakeFleet(t *testing.T) *fakeFleet { return &fakeFleet{t: t, ds: map[string]*fakeDevice{}} }

// run starts the engine in the bubble and returns its stop function.
func run(t *testing.T, m *Manager, f *fakeFleet) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	return func() { cancel(); <-done; f.wg.Wait() }
}

func ptr[T any](v T) *T { return &v }

func (m *Manager) mustView(t *testing.T, id string) CampaignView {
	t.Helper()
	v, err := m.Campaign(context.Background(), manager, id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Waves open one after the other, each only after the previous one has
// finished and soaked.
func TestWavesAdvanceAfterSoak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeFleet(t)
		for i := range 20 {
			f.add(fmt.Sprintf("dev_%02d", i), "1.0", succeeds)
		}
		m, img := testManager(t, f, Config{Tick: 10 * time.Second})
		c, err := m.CreateCampaign(t.Context(), manager, CampaignInput{Name: "A8 2.0", ImageID: img.ID, UnitID: "u1",
			Waves: []float64{10, 50, 100}, SoakS: ptr(int64(3600))})
		if err != nil {
			t.Fatal(err)
		}
		if got := []int{c.WaveList[0].Total, c.WaveList[1].Total, c.WaveList[2].Total}; fmt.Sprint(got) != "[2 8 10]" {
			t.Fatalf("wave sizes %v", got)
		}
		stop := run(t, m, f)
		defer stop()

		time.Sleep(10 * time.Minute) // wave 0 takes 3 simulated minutes
		synctest.Wait()
		v := m.mustView(t, c.ID)
		if w := v.WaveList[0]; w.Done != 2 || w.State != WaveSoaking {
			t.Fatalf("wave 0 after 10 min: %+v", w)
		}
		if w := v.WaveList[1]; w.Pending != 8 || w.State != WaveWaiting {
			t.Fatalf("wave 1 opened during the soak: %+v", w)
		}

		time.Sleep(time.Hour) // soak over, wave 1 done
		synctest.Wait()
		v = m.mustView(t, c.ID)
		if v.WaveList[1].Done != 8 || v.WaveList[2].Pending != 10 {
			t.Fatalf("after the first soak: %+v", v.WaveList)
		}

		time.Sleep(2 * time.Hour)
		synctest.Wait()
		v = m.mustView(t, c.ID)
		if v.State != CampaignCompleted || v.Progress.Done != 20 {
			t.Fatalf("at the end: %s %+v", v.State, v.Progress)
		}
		if d, _ := f.LookupDevice(t.Context(), "dev_00"); d.FirmwareVersion != "2.0" {
			t.Errorf("register still says %s", d.FirmwareVersion)
		}
	})
}

// The campaign halts when failures pass the maximum, and only then.
func TestHaltAtFailureThreshold(t *testing.T) {
	for _, tc := range []struct {
		name       string
		bad        int // devices of the first wave (10) that go wrong
		does       behaviour
		maxRate    float64
		wantState  CampaignState
		wantNotify int // devices ever told
	}{
		{"none fail", 0, fails, 0.2, CampaignCompleted, 20},
		{"at the threshold", 2, fails, 0.2, CampaignCompleted, 20},
		{"over the threshold", 3, fails, 0.2, CampaignHalted, 10},
		{"rollbacks count", 3, rollsBack, 0.2, CampaignHalted, 10},
		{"timeouts count", 3, silent, 0.2, CampaignHalted, 10},
		{"zero tolerance", 1, fails, 0, CampaignHalted, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeFleet(t)
				m, img := testManager(t, f, Config{Tick: 10 * time.Second, NotifyTimeout: 5 * time.Minute, MaxAttempts: 1})
				// Created after the image: waves are shuffled, so which
				// devices are bad is set once the waves are known.
				for i := range 20 {
					f.add(fmt.Sprintf("dev_%02d", i), "1.0", succeeds)
				}
				c, err := m.CreateCampaign(t.Context(), manager, CampaignInput{Name: "A8", ImageID: img.ID, UnitID: "u1",
					Waves: []float64{50, 100}, SoakS: ptr(int64(600)), MaxFailureRate: &tc.maxRate})
				if err != nil {
					t.Fatal(err)
				}
				jobs, _ := m.CampaignJobs(t.Context(), manager, c.ID)
				for _, j := range jobs[:tc.bad] {
					f.ds[j.DeviceID].does = tc.does
				}
				stop := run(t, m, f)
				time.Sleep(3 * time.Hour)
				synctest.Wait()
				stop()
				v := m.mustView(t, c.ID)
				if v.State != tc.wantState {
					t.Fatalf("state %s (%s), progress %+v", v.State, v.Reason, v.Progress)
				}
				told := 0
				for id := range f.ds {
					if f.told(id) > 0 {
						told++
					}
				}
				if told != tc.wantNotify {
					t.Errorf("%d devices told, want %d", told, tc.wantNotify)
				}
				if tc.wantState == CampaignHalted && !strings.Contains(v.Reason, "failure rate") {
					t.Errorf("reason %q", v.Reason)
				}
			})
		})
	}
}

// A recording device is deferred, not told, and updated once it stops.
func TestRecordingDeviceDeferred(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeFleet(t)
		f.add("dev_rec", "1.0", succeeds)
		f.add("dev_idle", "1.0", succeeds)
		f.setRecording("dev_rec", true)
		m, img := testManager(t, f, Config{Tick: 10 * time.Second, DeferRetry: 15 * time.Minute})
		c, err := m.CreateCampaign(t.Context(), manager, CampaignInput{Name: "A8", ImageID: img.ID, UnitID: "u1",
			Waves: []float64{100}})
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, m, f)
		defer stop()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		v := m.mustView(t, c.ID)
		if v.Progress.Deferred != 1 || v.Progress.Done != 1 || f.told("dev_rec") != 0 {
			t.Fatalf("while recording: %+v, told %d", v.Progress, f.told("dev_rec"))
		}
		if v.State != CampaignRunning {
			t.Fatalf("state %s with a deferred device", v.State)
		}
		f.setRecording("dev_rec", false)
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		v = m.mustView(t, c.ID)
		if v.State != CampaignCompleted || v.Progress.Done != 2 {
			t.Fatalf("after recording: %s %+v", v.State, v.Progress)
		}
	})
}

// A silent device is asked MaxAttempts times, then fails; unless the
// register meanwhile says it runs the target version.
func TestSilentDevice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeFleet(t)
		f.add("dev_quiet", "1.0", silent)
		f.add("dev_patched", "1.0", silent)
		m, img := testManager(t, f, Config{Tick: 10 * time.Second, NotifyTimeout: 5 * time.Minute, MaxAttempts: 3})
		c, err := m.CreateCampaign(t.Context(), manager, CampaignInput{Name: "A8", ImageID: img.ID, UnitID: "u1",
			Waves: []float64{100}, MaxFailureRate: ptr(1.0)})
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, m, f)
		defer stop()
		time.Sleep(time.Minute)
		f.mu.Lock()
		f.ds["dev_patched"].FirmwareVersion = "2.0" // a technician flashed it by hand
		f.mu.Unlock()
		time.Sleep(time.Hour)
		synctest.Wait()
		jobs, _ := m.CampaignJobs(t.Context(), manager, c.ID)
		for _, j := range jobs {
			switch j.DeviceID {
			case "dev_quiet":
				if j.State != JobFailed || j.Attempts != 3 || f.told("dev_quiet") != 3 {
					t.Errorf("quiet: %+v, told %d", j, f.told("dev_quiet"))
				}
			case "dev_patched":
				if j.State != JobDone {
					t.Errorf("patched: %+v", j)
				}
			}
		}
	})
}

// Pause stops new notifications, resume carries on, cancel ends it.
func TestPauseResumeCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeFleet(t)
		for i := range 10 {
			f.add(fmt.Sprintf("dev_%02d", i), "1.0", succeeds)
		}
		m, img := testManager(t, f, Config{Tick: 10 * time.Second})
		c, err := m.CreateCampaign(t.Context(), manager, CampaignInput{Name: "A8", ImageID: img.ID, UnitID: "u1",
			Waves: []float64{10, 50, 100}, SoakS: ptr(int64(600))})
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, m, f)
		defer stop()
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if _, err := m.Pause(t.Context(), manager, c.ID, "holiday"); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Pause(t.Context(), manager, c.ID, ""); fleet.ErrorCode(err) != fleet.ECONFLICT {
			t.Fatalf("pause twice: %v", err)
		}
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		if v := m.mustView(t, c.ID); v.Progress.Done != 1 || v.Wave != 0 {
			t.Fatalf("paused campaign moved on: wave %d %+v", v.Wave, v.Progress)
		}
		if _, err := m.Resume(t.Context(), manager, c.ID, ""); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Minute) // soak already over: wave 1 goes at once
		synctest.Wait()
		if v := m.mustView(t, c.ID); v.Progress.Done != 5 || v.Wave != 1 {
			t.Fatalf("resumed: wave %d %+v", v.Wave, v.Progress)
		}
		v, err := m.Cancel(t.Context(), manager, c.ID, "enough")
		if err != nil {
			t.Fatal(err)
		}
		if v.State != CampaignCancelled || v.Progress.Cancelled != 5 {
			t.Fatalf("cancelled: %s %+v", v.State, v.Progress)
		}
		if _, err := m.Resume(t.Context(), manager, c.ID, ""); fleet.ErrorCode(err) != fleet.ECONFLICT {
			t.Fatalf("resume a cancelled campaign: %v", err)
		}
		officer := fleet.User{ID: "usr_2", Role: fleet.RoleOfficer}
		if _, err := m.Pause(t.Context(), officer, c.ID, ""); fleet.ErrorCode(err) != fleet.EFORBIDDEN {
			t.Fatalf("officer pause: %v", err)
		}
	})
}

// The service refuses images whose bytes or signature do not check out.
func TestUploadRefusesBadImages(t *testing.T) {
	body := []byte("firmware 3.0 for the A8")
	sum := sha256.Sum256(body)
	hexSum := hex.EncodeToString(sum[:])
	_, offline, _ := ed25519.GenerateKey(rand.Reader)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name      string
		in        ImageInput
		body      []byte
		wantField string // "" for accepted
		wantText  string
	}{
		{"service signs", ImageInput{Model: "DSJ-A8", Version: "3.0"}, body, "", ""},
		{"offline signature", ImageInput{Model: "DSJ-A8", Version: "3.0",
			Signature: Sign(offline, "DSJ-A8", "3.0", int64(len(body)), hexSum), SHA256: hexSum}, body, "", ""},
		{"hash mismatch", ImageInput{Model: "DSJ-A8", Version: "3.0", SHA256: strings.Repeat("0", 64)}, body, "sha256", EHashMismatch},
		{"tampered after signing", ImageInput{Model: "DSJ-A8", Version: "3.0",
			Signature: Sign(offline, "DSJ-A8", "3.0", int64(len(body)), hexSum)}, append([]byte("X"), body[1:]...), "signature", EBadSignature},
		{"untrusted key", ImageInput{Model: "DSJ-A8", Version: "3.0",
			Signature: Sign(stranger, "DSJ-A8", "3.0", int64(len(body)), hexSum)}, body, "signature", EBadSignature},
		{"signed for another model", ImageInput{Model: "DSJ-A9", Version: "3.0",
			Signature: Sign(offline, "DSJ-A8", "3.0", int64(len(body)), hexSum)}, body, "signature", EBadSignature},
		{"not base64", ImageInput{Model: "DSJ-A8", Version: "3.0", Signature: "???"}, body, "signature", EBadSignature},
		{"empty", ImageInput{Model: "DSJ-A8", Version: "3.0"}, nil, "file", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeFleet(t)
			blobs, _ := disk.New(t.TempDir())
			_, key, _ := ed25519.GenerateKey(rand.Reader)
			m, err := New(Config{TempDir: t.TempDir()}, Deps{Store: newMemStore(), Blobs: blobs, Devices: f,
				Keys: &Keys{Signer: key, Trusted: []ed25519.PublicKey{offline.Public().(ed25519.PublicKey)}}})
			if err != nil {
				t.Fatal(err)
			}
			img, err := m.UploadImage(t.Context(), manager, tc.in, bytes.NewReader(tc.body))
			if tc.wantField == "" {
				if err != nil {
					t.Fatal(err)
				}
				if img.SHA256 != hexSum || img.SizeBytes != int64(len(body)) {
					t.Fatalf("image %+v", img)
				}
				if _, err := blobs.Stat(t.Context(), hexSum); err != nil {
					t.Fatalf("not stored: %v", err)
				}
				return
			}
			if fleet.ErrorField(err) != tc.wantField || !strings.HasPrefix(fleet.ErrorMessage(err), tc.wantText) {
				t.Fatalf("error %v, want field %s %s", err, tc.wantField, tc.wantText)
			}
			if _, err := blobs.Stat(t.Context(), hexSum); fleet.ErrorCode(err) != fleet.ENOTFOUND {
				t.Errorf("a refused image was stored: %v", err)
			}
		})
	}
}

func TestWaveSizes(t *testing.T) {
	for _, tc := range []struct {
		n     int
		waves []float64
		want  string
	}{
		{100, DefaultWaves, "[1 9 40 50]"},
		{3, DefaultWaves, "[1 0 1 1]"},
		{1, DefaultWaves, "[1 0 0 0]"},
		{1000, []float64{100}, "[1000]"},
		{7, []float64{33.3, 66.6, 100}, "[3 2 2]"},
	} {
		if got := fmt.Sprint(waveSizes(tc.n, tc.waves)); got != tc.want {
			t.Errorf("waveSizes(%d, %v) = %s, want %s", tc.n, tc.waves, got, tc.want)
		}
	}
}
