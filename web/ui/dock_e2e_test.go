package ui_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/internal/testenv"
	"github.com/lawfleet/fleet/web"
)

// dockStation is a registered dock station speaking the dock protocol over HTTP.
type dockStation struct {
	t    *testing.T
	base string
	fleet.NewDockStation
}

// call sends a request with the station's credentials and requires status.
func (s *dockStation) call(method, path string, body []byte, hdr map[string]string, status int) []byte {
	s.t.Helper()
	req, err := http.NewRequestWithContext(s.t.Context(), method, s.base+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.SetBasicAuth(s.ID, s.Secret)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		s.t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, res.StatusCode, status, out)
	}
	return out
}

// putRange sends bytes [from, to) of a file with Content-Range.
func (s *dockStation) putRange(o fleet.Offload, name string, file []byte, from, to, status int) {
	s.t.Helper()
	sum := sha256.Sum256(file)
	s.call(http.MethodPut, "/api/v1/dock/offloads/"+o.ID+"/files/"+name, file[from:to], map[string]string{
		web.HeaderContentSHA256: hex.EncodeToString(sum[:]),
		web.HeaderRecordedStart: time.Now().Add(-time.Hour).Format(time.RFC3339),
		"Content-Range":         fmt.Sprintf("bytes %d-%d/%d", from, to-1, len(file)),
		"Content-Type":          "application/octet-stream",
	}, status)
}

// TestDockPage drives the dock page (采集站) over a real vault while a station uploads through the
// API: the offload shows in progress with half its bytes, per file too, then complete on its own
// (the page refreshes while an upload runs); the confirmed file opens on the evidence page; and a
// station is registered from the page, its secret shown once.
func TestDockPage(t *testing.T) {
	chromium := testenv.Chromium(t)
	svc := startServiceDeps(t, withVault(t), nil)
	api := newAPIClient(t, svc.url)
	api.send(http.MethodPost, "/api/v1/devices/"+svc.recorder.ID+"/checkout", fmt.Sprintf(`{"officer_id":%q}`, svc.officer.ID), nil)
	st := &dockStation{t: t, base: svc.url}
	api.send(http.MethodPost, "/api/v1/dock/stations", fmt.Sprintf(`{"name":%q,"unit_id":%q}`, stationName, svc.city.ID), &st.NewDockStation)

	// The station docks the recorder and sends half of a video.
	video := make([]byte, 400_000)
	rand.Read(video)
	var o fleet.Offload
	if err := json.Unmarshal(st.call(http.MethodPost, "/api/v1/dock/offloads", fmt.Appendf(nil, `{"serial":%q}`, recorderSN),
		map[string]string{"Content-Type": "application/json"}, http.StatusCreated), &o); err != nil {
		t.Fatal(err)
	}
	const videoName = "VID_0042.mp4"
	st.putRange(o, videoName, video, 0, 200_000, http.StatusAccepted)

	b := newBrowser(t, chromium)
	b.signIn(svc.url)
	b.do("open the dock page", chromedp.Click(chromedp.ID("nav-docks")))
	b.waitText("#nav-docks", "采集站")
	b.waitText("#docks-stations", stationName)
	row := fmt.Sprintf(`#docks-offloads tr[data-id=%q]`, o.ID)
	b.waitText(row, "上传中")
	b.waitText(row, recorderSN)
	b.waitText(row, officerName)
	b.waitText(row, "50.0%")
	b.waitText(row, "195.3 KB / 390.6 KB")
	b.waitText(row, "0/1 已入库")
	b.waitText("#docks-live", "自动刷新")
	b.do("open the offload's files", chromedp.Click(chromedp.ID("docks-toggle-"+o.ID)))
	files := "#docks-files-" + o.ID
	b.waitText(files, videoName)
	b.waitText(files, "接收中")
	b.waitJS("the file's progress bar is at half", fmt.Sprintf(
		`(() => { const p = document.querySelector('%s progress'); return p && p.value === 200000 && p.max === 400000; })()`, files))
	pageShot(b, "docks-in-progress")

	// The rest arrives; the page shows it without being asked.
	st.putRange(o, videoName, video, 200_000, len(video), http.StatusCreated)
	b.waitText(row, "已完成")
	b.waitText(row, "1/1 已入库")
	b.waitText(files, "已入库")
	b.waitText("#docks-live", "没有进行中的上传")
	pageShot(b, "docks-complete")

	// The confirmed file opens on the evidence page.
	b.do("open the evidence item", chromedp.Click(chromedp.CSS(files+" a.docks-item")), chromedp.WaitVisible(chromedp.ID("evidence-dialog")))
	b.waitText("#ev-file-name", videoName)
	b.waitText("#ev-meta", recorderSN)
	b.do("close the item", chromedp.Click(chromedp.CSS("#evidence-dialog .dialog-head .icon-btn")), chromedp.WaitNotPresent(chromedp.ID("evidence-dialog")))

	// A station registered from the page; its secret shows once and signs it in.
	b.do("register a station",
		chromedp.Click(chromedp.ID("nav-docks")),
		chromedp.WaitVisible(chromedp.ID("docks-new")),
		chromedp.Click(chromedp.ID("docks-new")),
		chromedp.SendKeys(chromedp.ID("docks-name"), "汉阳采集站"),
		chromedp.Click(chromedp.ID("docks-save")),
		chromedp.WaitVisible(chromedp.ID("docks-secret-dialog")))
	b.waitText("#docks-secret-dialog", "只显示这一次")
	second := &dockStation{t: t, base: svc.url}
	second.ID = evalJS[string](b, "station id", `document.getElementById('docks-secret-id').textContent`)
	second.Secret = b.value("docks-secret-value")
	second.call(http.MethodPost, "/api/v1/dock/offloads", fmt.Appendf(nil, `{"serial":%q}`, recorderSN),
		map[string]string{"Content-Type": "application/json"}, http.StatusCreated)
	b.do("close the secret", chromedp.Click(chromedp.ID("docks-secret-done")), chromedp.WaitNotPresent(chromedp.ID("docks-secret-dialog")))
	b.waitText("#docks-stations", "汉阳采集站")
	// The new station's offload, with nothing sent yet, is waiting.
	b.do("search again", chromedp.Click(chromedp.ID("docks-search")))
	b.waitText("#docks-offloads", "等待上传")

	b.do("switch to English", chromedp.Click(chromedp.ID("lang-toggle")))
	b.waitText("#nav-docks", "Docks")
	b.waitText(row, "Complete")
	b.checkConsole()
}
