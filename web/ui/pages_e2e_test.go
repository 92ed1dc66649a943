package ui_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/blobstore/disk"
	"github.com/lawfleet/fleet/ingest/dockspool"
	"github.com/lawfleet/fleet/internal/testenv"
	"github.com/lawfleet/fleet/web"
)

const (
	evidenceFile = "IMG_0001.jpg"
	stationName  = "武汉江岸采集站"
	cityName     = "武汉市交通运输综合执法支队"
)

// withVault gives the test server a real evidence vault: a disk blob store
// and a dock spool (8 MiB files at most) in a temporary directory.
func withVault(t *testing.T) func(*service, *web.Deps) {
	return func(s *service, d *web.Deps) {
		dir := t.TempDir()
		blobs, err := disk.New(filepath.Join(dir, "evidence"))
		if err != nil {
			t.Fatal(err)
		}
		spool, err := dockspool.New(filepath.Join(dir, "spool"), 8<<20)
		if err != nil {
			t.Fatal(err)
		}
		vault, err := fleet.NewVault(s.db, blobs, fleet.RetentionPolicy{}, time.Now, nil)
		if err != nil {
			t.Fatal(err)
		}
		d.Evidence = web.EvidenceDeps{Vault: vault, Spool: spool}
	}
}

// TestCoverageAndEvidencePages drives the coverage page (with the coverage engine mounted) and
// the evidence pages over a real vault: a dock station registered through the API offloads a
// photo, which an administrator finds, views after giving a reason, sees in the chain of custody,
// puts on hold, and verifies; the evidence page links to the dock page, where the station and
// its offloaded file are listed and one is registered.
func TestCoverageAndEvidencePages(t *testing.T) {
	chromium := testenv.Chromium(t)
	svc := startServiceDeps(t, withVault(t), nil, func(s *service, server *web.Server) {
		web.MountCoverage(server, fleet.NewCoverage(s.db, fleet.CoverageConfig{}))
	})
	api := newAPIClient(t, svc.url)
	// The recorder goes to the officer, so the coverage report counts them equipped and the
	// offloaded file names its officer.
	api.send(http.MethodPost, "/api/v1/devices/"+svc.recorder.ID+"/checkout", fmt.Sprintf(`{"officer_id":%q}`, svc.officer.ID), nil)
	seedEvidence(t, svc, api)

	b := newBrowser(t, chromium)
	b.signIn(svc.url)

	// Coverage: the province with its city, 1 of 1 equipped.
	b.do("open the coverage page", chromedp.Click(chromedp.ID("nav-coverage")))
	b.waitText("#coverage-table", cityName)
	b.waitText("#coverage-table", "100.0%")
	b.waitJS("the chart is drawn", `document.querySelector('#cov-chart svg .line.milestone')`)
	b.waitText("#cov-list", "没有需要处理的记录")
	pageShot(b, "coverage")
	// The exports are fetched with the token, as the buttons do.
	for _, format := range []string{"xlsx", "csv"} {
		got := evalJS[string](b, "export "+format, fmt.Sprintf(`import('/js/download.js').then((m) =>
			m.fetchBlob('/coverage/export', { format: %q, at: document.getElementById('cov-date').value })).then((r) => r.blob.size > 0 ? r.name : 'empty')`, format))
		if filepath.Ext(got) != "."+format {
			t.Errorf("coverage export %s: file %q", format, got)
		}
	}
	b.do("export from the page", chromedp.Click(chromedp.ID("cov-export-csv")))

	// Milestones: the default line, a 2025 target edited and saved, shown as edited.
	b.do("open the milestones", chromedp.Click(chromedp.ID("cov-milestones")), chromedp.WaitVisible(chromedp.ID("milestones-table")))
	b.waitText("#milestones-table", "2026")
	b.do("edit the 2025 target", chromedp.Evaluate[chromedp.Void](`(() => {
		const row = [...document.querySelectorAll('#milestones-table tbody tr')].find((r) => r.cells[0].textContent === '2025');
		const input = row.querySelector('input');
		input.value = '70';
		input.dispatchEvent(new Event('input', { bubbles: true }));
	})()`), chromedp.Click(chromedp.ID("milestones-save")), chromedp.WaitNotPresent(chromedp.ID("milestones-dialog")))
	b.do("open the milestones again", chromedp.Click(chromedp.ID("cov-milestones")), chromedp.WaitVisible(chromedp.ID("milestones-table")))
	b.waitText("#milestones-table", "已调整")
	pageShot(b, "milestones")
	b.do("close the milestones", chromedp.Click(chromedp.CSS("#milestones-dialog .dialog-head .icon-btn")), chromedp.WaitNotPresent(chromedp.ID("milestones-dialog")))
	b.do("drill down to the city", chromedp.Click(chromedp.CSS("#coverage-table button.drill")))
	b.waitText("#cov-crumbs", cityName)
	b.waitText("#coverage-table", "无下级单位")
	b.do("open the certificates-due list", chromedp.Click(chromedp.ID("cov-tab-cert_due")))
	b.waitJS("the days choice shows", `!document.querySelector('#cov-days').closest('.days-field').hidden`)
	b.waitText("#cov-list", "最后有效日")

	// Evidence: the offloaded photo, its custody, a view with a reason, a hold.
	b.do("open the evidence page", chromedp.Click(chromedp.ID("nav-evidence")))
	b.waitText("#evidence-table", evidenceFile)
	b.waitText("#evidence-table", officerName)
	pageShot(b, "evidence")
	b.do("open the item", chromedp.Click(chromedp.CSS("#evidence-table .ev-open")), chromedp.WaitVisible(chromedp.ID("evidence-dialog")))
	b.waitText("#custody-timeline", "采集入库")
	b.waitText("#ev-meta", recorderSN)
	b.do("ask to view the original", chromedp.Click(chromedp.ID("ev-play")), chromedp.WaitVisible(chromedp.ID("reason-input")))
	b.do("give a reason",
		chromedp.SendKeys(chromedp.ID("reason-input"), "案件复核"),
		chromedp.Click(chromedp.ID("reason-ok")))
	b.waitJS("the photo shows", `(() => { const i = document.querySelector('#ev-player img'); return i && i.complete && i.naturalWidth === 64; })()`)
	b.waitText("#custody-timeline", "案件复核")
	b.waitText("#custody-timeline", "下载")
	b.do("put it on hold", chromedp.Click(chromedp.ID("ev-hold")), chromedp.WaitVisible(chromedp.ID("reason-input")))
	b.do("give the hold's reason",
		chromedp.SendKeys(chromedp.ID("reason-input"), "行政复议"),
		chromedp.Click(chromedp.ID("reason-ok")))
	b.waitText("#ev-meta", "已保全")
	b.waitText("#custody-timeline", "行政复议")
	pageShot(b, "evidence-item")
	b.do("close the item", chromedp.Click(chromedp.CSS("#evidence-dialog .dialog-head .icon-btn")), chromedp.WaitNotPresent(chromedp.ID("evidence-dialog")))
	b.waitText("#evidence-table", "已保全")

	b.do("verify the chain", chromedp.Click(chromedp.ID("ev-verify")), chromedp.WaitVisible(chromedp.ID("verify-dialog")))
	b.waitText("#verify-report", "校验通过")
	b.do("close the report", chromedp.Click(chromedp.CSS("#verify-dialog .dialog-head .icon-btn")), chromedp.WaitNotPresent(chromedp.ID("verify-dialog")))

	b.do("open the missing records", chromedp.Click(chromedp.ID("ev-tab-missing")))
	b.waitText("#missing-table", "没有缺失记录")
	b.do("open the review sample", chromedp.Click(chromedp.ID("ev-tab-review")))
	b.waitText("#rs-result", "案件总数")

	// Dock stations live on the dock page, which the evidence page links to: the one registered
	// through the API with its offload's file, and a new one whose secret shows once.
	b.waitText("#ev-docks-link", "采集站与上传进度")
	b.do("open the dock page from the evidence page", chromedp.Click(chromedp.ID("ev-docks-link")))
	b.waitText("#docks-stations", stationName)
	b.do("open the offload's files", chromedp.Click(chromedp.CSS("#docks-offloads .docks-toggle")))
	b.waitText("#docks-offloads", evidenceFile)
	pageShot(b, "dock")
	b.do("register a station",
		chromedp.Click(chromedp.ID("docks-new")),
		chromedp.SendKeys(chromedp.ID("docks-name"), "汉阳采集站"),
		chromedp.Click(chromedp.ID("docks-save")),
		chromedp.WaitVisible(chromedp.ID("docks-secret-dialog")))
	b.waitText("#docks-secret-dialog", "只显示这一次")
	if secret := b.value("docks-secret-value"); secret == "" {
		t.Error("the station secret dialog shows no secret")
	}
	b.do("close the secret dialog", chromedp.Click(chromedp.ID("docks-secret-done")), chromedp.WaitNotPresent(chromedp.ID("docks-secret-dialog")))
	b.waitText("#docks-stations", "汉阳采集站")

	// English: the same pages in the second language.
	b.do("switch to English", chromedp.Click(chromedp.ID("lang-toggle")))
	b.waitText("#docks-stations-title", "Dock stations")
	b.do("back to the evidence page in English", chromedp.Click(chromedp.ID("nav-evidence")))
	b.waitText("#ev-docks-link", "Dock stations and offloads")
	b.do("open the coverage page in English", chromedp.Click(chromedp.ID("nav-coverage")))
	b.waitText("#coverage-table", "Allocation rate")
	b.do("switch back to Chinese", chromedp.Click(chromedp.ID("lang-toggle")))
	b.waitText("#nav-coverage", "覆盖率")

	b.checkConsole()
}

// TestPagesUnavailable opens the coverage, evidence and firmware pages on a server with none of
// the coverage engine, the vault and the firmware service: each says it is unavailable.
func TestPagesUnavailable(t *testing.T) {
	chromium := testenv.Chromium(t)
	svc := startService(t)
	b := newBrowser(t, chromium)
	b.signIn(svc.url)
	b.do("open the coverage page", chromedp.Click(chromedp.ID("nav-coverage")))
	b.waitText("#cov-unavailable", "覆盖率统计暂不可用")
	b.waitJS("the chart and the lists are hidden", `document.querySelector('#cov-chart').closest('section').hidden && document.querySelector('.cov-lists').hidden && document.getElementById('cov-export-xlsx').disabled`)
	pageShot(b, "coverage-unavailable")
	b.do("open the evidence page", chromedp.Click(chromedp.ID("nav-evidence")))
	b.waitText("#ev-unavailable", "证据库暂不可用")
	b.do("open the firmware page", chromedp.Click(chromedp.ID("nav-firmware")))
	b.waitText("#fw-unavailable", "固件升级服务暂不可用")
	b.checkConsole()
}

func (b *browser) signIn(base string) {
	b.t.Helper()
	b.do("sign in",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("login-username")),
		chromedp.SendKeys(chromedp.ID("login-username"), "admin"),
		chromedp.SendKeys(chromedp.ID("login-password"), adminPassword),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("app-shell")))
}

// seedEvidence registers a dock station, opens an offload of the recorder and sends one photo
// with its SHA-256, as a station does at the end of a shift.
func seedEvidence(t *testing.T, svc *service, api *apiClient) {
	t.Helper()
	var st fleet.NewDockStation
	api.send(http.MethodPost, "/api/v1/dock/stations", fmt.Sprintf(`{"name":%q,"unit_id":%q}`, stationName, svc.city.ID), &st)
	if st.Secret == "" {
		t.Fatal("no station secret")
	}
	station := func(method, path string, body []byte, hdr map[string]string) []byte {
		req, err := http.NewRequestWithContext(t.Context(), method, svc.url+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(st.ID, st.Secret)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: HTTP %d: %s", method, path, res.StatusCode, out)
		}
		return out
	}
	var o fleet.Offload
	if err := json.Unmarshal(station(http.MethodPost, "/api/v1/dock/offloads", fmt.Appendf(nil, `{"serial":%q}`, recorderSN),
		map[string]string{"Content-Type": "application/json"}), &o); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := range 64 {
		for y := range 48 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 160, 255})
		}
	}
	var photo bytes.Buffer
	if err := jpeg.Encode(&photo, img, nil); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(photo.Bytes())
	// The recording starts after the check-out (just before), so the item names the officer.
	start := time.Now()
	var us web.UploadStatus
	if err := json.Unmarshal(station(http.MethodPut, "/api/v1/dock/offloads/"+o.ID+"/files/"+evidenceFile, photo.Bytes(), map[string]string{
		web.HeaderContentSHA256: hex.EncodeToString(sum[:]),
		web.HeaderRecordedStart: start.Format(time.RFC3339Nano),
		web.HeaderPosition:      "30.59,114.30",
		"Content-Type":          "application/octet-stream",
	}), &us); err != nil {
		t.Fatal(err)
	}
	if !us.Confirmed {
		t.Fatalf("upload not confirmed: %+v", us)
	}
}

// send is call for any 2xx answer (a creation answers 201).
func (c *apiClient) send(method, path, body string, out any) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, bytes.NewReader([]byte(body)))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		c.t.Fatalf("%s %s: HTTP %d: %s", method, path, res.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
}

// pageShot saves a 1280×800 screenshot in $FLEET_UI_SHOTS when it is set (for looking at the
// layout), else in the test's artifact directory.
func pageShot(b *browser, name string) {
	b.t.Helper()
	dir := os.Getenv("FLEET_UI_SHOTS")
	if dir == "" {
		b.shot(name)
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}
