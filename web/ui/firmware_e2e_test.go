package ui_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lawfleet/fleet/firmware"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/internal/testenv"
	"github.com/lawfleet/fleet/web"
)

// fakeFirmware is a firmware service with one image and one running campaign in its second
// wave; pause, resume and cancel change the campaign's state as the manager would.
type fakeFirmware struct {
	mu      sync.Mutex
	img     firmware.Image
	cv      firmware.CampaignView
	reasons []string
}

func newFakeFirmware(unitID string) *fakeFirmware {
	now := time.Now()
	img := firmware.Image{ID: "fw_1", Model: "DSJ-V9", Version: "2.1.0", SizeBytes: 3 << 20,
		SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", ReleaseNotes: "修复 GPS 漂移",
		UploadedBy: "admin", UploadedAt: now.Add(-48 * time.Hour)}
	c := firmware.Campaign{ID: "camp_1", Name: "DSJ-V9 升级到 2.1.0", ImageID: img.ID, Model: img.Model, TargetVersion: img.Version,
		UnitID: unitID, Waves: []float64{1, 10, 50, 100}, State: firmware.CampaignRunning, Wave: 1, CreatedBy: "admin", CreatedAt: now.Add(-24 * time.Hour)}
	wave := func(i int, st firmware.WaveState, total, done, failed int) firmware.WaveProgress {
		return firmware.WaveProgress{Index: i, Percent: c.Waves[i], State: st,
			Progress: firmware.Progress{Total: total, Done: done, Failed: failed, Pending: total - done - failed}}
	}
	cv := firmware.CampaignView{Campaign: c, Progress: firmware.Progress{Total: 200, Done: 12, Failed: 1, InFlight: 7, Pending: 180},
		WaveList: []firmware.WaveProgress{wave(0, firmware.WaveDone, 2, 2, 0), wave(1, firmware.WaveOpen, 18, 10, 1),
			wave(2, firmware.WaveWaiting, 80, 0, 0), wave(3, firmware.WaveWaiting, 100, 0, 0)}}
	return &fakeFirmware{img: img, cv: cv}
}

func (f *fakeFirmware) UploadImage(context.Context, fleet.User, firmware.ImageInput, io.Reader) (firmware.Image, error) {
	return firmware.Image{}, fleet.Errorf(fleet.EINVALID, "not in this test")
}

func (f *fakeFirmware) Images(context.Context, fleet.User, string, fleet.Page) ([]firmware.Image, string, error) {
	return []firmware.Image{f.img}, "", nil
}

func (f *fakeFirmware) Image(context.Context, fleet.User, string) (firmware.Image, error) {
	return f.img, nil
}

func (f *fakeFirmware) CreateCampaign(context.Context, fleet.User, firmware.CampaignInput) (firmware.CampaignView, error) {
	return firmware.CampaignView{}, fleet.Errorf(fleet.EINVALID, "not in this test")
}

func (f *fakeFirmware) Campaigns(context.Context, fleet.User, fleet.Page) ([]firmware.CampaignView, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []firmware.CampaignView{f.cv}, "", nil
}

func (f *fakeFirmware) Campaign(context.Context, fleet.User, string) (firmware.CampaignView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cv, nil
}

func (f *fakeFirmware) CampaignJobs(context.Context, fleet.User, string) ([]firmware.Job, error) {
	return nil, nil
}

func (f *fakeFirmware) set(state firmware.CampaignState, reason string) (firmware.CampaignView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cv.State = state
	f.cv.Reason = reason
	f.reasons = append(f.reasons, reason)
	return f.cv, nil
}

func (f *fakeFirmware) Pause(_ context.Context, _ fleet.User, _, reason string) (firmware.CampaignView, error) {
	return f.set(firmware.CampaignPaused, reason)
}

func (f *fakeFirmware) Resume(_ context.Context, _ fleet.User, _, reason string) (firmware.CampaignView, error) {
	return f.set(firmware.CampaignRunning, reason)
}

func (f *fakeFirmware) Cancel(_ context.Context, _ fleet.User, _, reason string) (firmware.CampaignView, error) {
	return f.set(firmware.CampaignCancelled, reason)
}

func (f *fakeFirmware) OpenDownload(context.Context, string, firmware.DownloadCredentials) (firmware.Image, fleet.Blob, error) {
	return firmware.Image{}, nil, fleet.Errorf(fleet.ENOTFOUND, "not in this test")
}

// TestFirmwarePage shows the images and a campaign's waves, and pauses and resumes the campaign
// with a written reason that reaches the service.
func TestFirmwarePage(t *testing.T) {
	chromium := testenv.Chromium(t)
	var fw *fakeFirmware
	svc := startServiceWrapped(t, nil, func(s *service, server *web.Server) {
		fw = newFakeFirmware(s.city.ID)
		server.MountFirmware(fw)
	})
	b := newBrowser(t, chromium)
	b.signIn(svc.url)
	b.do("open the firmware page", chromedp.Click(chromedp.ID("nav-firmware")))
	b.waitText("#fw-images", "2.1.0")
	b.waitText("#fw-campaigns", "第 2 批")
	b.waitText("#fw-campaigns", "升级中")
	pageShot(b, "firmware")
	b.do("pause the campaign", chromedp.Click(chromedp.CSS(`#fw-campaigns [data-id="camp_1"] .btn.small`)), chromedp.WaitVisible(chromedp.ID("reason-input")))
	b.do("give a reason", chromedp.SendKeys(chromedp.ID("reason-input"), "发现兼容问题"), chromedp.Click(chromedp.ID("reason-ok")))
	b.waitText("#fw-campaigns", "已暂停")
	b.waitText("#fw-campaigns", "发现兼容问题")
	fw.mu.Lock()
	got := append([]string(nil), fw.reasons...)
	fw.mu.Unlock()
	if len(got) != 1 || got[0] != "发现兼容问题" {
		t.Errorf("reasons the service got: %q", got)
	}
	b.checkConsole()
}
