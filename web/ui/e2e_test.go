package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
	"github.com/lawfleet/fleet/internal/testenv"
	"github.com/lawfleet/fleet/web"
	"github.com/lawfleet/fleet/web/ui"
)

// The seeded records the browser works with.
const (
	adminPassword = "password123"
	officerName   = "张三"
	officerBadge  = "E2E001"
	recorderSN    = "DSJ-E2E-0001"
	newDeviceSN   = "DSJ-E2E-0002"
)

// stepTimeout bounds each browser step, so that a stuck page fails the test with the step's name
// (and a screenshot) instead of hanging until go test's own timeout.
const stepTimeout = 15 * time.Second

type service struct {
	url      string
	reg      *fleet.Register
	db       *sqlstore.DB
	admin    fleet.User
	city     fleet.Unit
	officer  fleet.Officer
	recorder fleet.NewDevice
}

// startService runs the real service in-process: a SQLite register, the Gin API and the embedded
// UI on an httptest server, with an administrator, a unit, an officer and a recorder.
func startService(t *testing.T) *service {
	t.Helper()
	return startServiceWrapped(t, nil)
}

// startServiceWrapped is startService with more: each setup function runs after the seeding and
// before serving (e.g. to mount the live routes), and wrap, when not nil, wraps the handler.
func startServiceWrapped(t *testing.T, wrap func(http.Handler) http.Handler, setup ...func(*service, *web.Server)) *service {
	t.Helper()
	return startServiceDeps(t, nil, wrap, setup...)
}

// startServiceDeps is startServiceWrapped with deps, when not nil, adding collaborators to the
// server's dependencies before it is built (e.g. the evidence vault).
func startServiceDeps(t *testing.T, deps func(*service, *web.Deps), wrap func(http.Handler) http.Handler, setup ...func(*service, *web.Server)) *service {
	t.Helper()
	ctx := t.Context()
	db := sqltest.SQLite(t)
	reg := fleet.NewRegister(db, nil)
	if _, err := reg.Bootstrap(ctx, adminPassword); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	_, admin, err := reg.Login(ctx, "admin", adminPassword)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	province, err := reg.CreateUnit(ctx, admin, fleet.UnitInput{Code: "HB", Name: "湖北省交通运输综合执法局", Level: fleet.LevelProvince})
	if err != nil {
		t.Fatalf("create province: %v", err)
	}
	city, err := reg.CreateUnit(ctx, admin, fleet.UnitInput{ParentID: province.ID, Code: "WH", Name: "武汉市交通运输综合执法支队", Level: fleet.LevelCity})
	if err != nil {
		t.Fatalf("create city: %v", err)
	}
	today := fleet.DateOf(time.Now())
	frontline := true
	officer, err := reg.CreateOfficer(ctx, admin, fleet.OfficerInput{
		UnitID: city.ID, Name: officerName, BadgeNo: officerBadge, Frontline: &frontline, DutyStatus: fleet.OnDuty,
		Certificate: fleet.Certificate{Number: "4201-0001", IssuedOn: today.AddDays(-400), ExpiresOn: today.AddDays(1000),
			AnnualReviewUntil: today.AddDays(200), Status: fleet.CertValid},
	})
	if err != nil {
		t.Fatalf("create officer: %v", err)
	}
	recorder, err := reg.CreateDevice(ctx, admin, fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: recorderSN, Model: "DSJ-V9", UnitID: city.ID})
	if err != nil {
		t.Fatalf("create recorder: %v", err)
	}
	svc := &service{reg: reg, db: db, admin: admin, city: city, officer: officer, recorder: recorder}
	d := web.Deps{Register: reg, UI: ui.FS()}
	if deps != nil {
		deps(svc, &d)
	}
	server := web.New(web.Config{}, d)
	for _, fn := range setup {
		fn(svc, server)
	}
	var h http.Handler = server.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	svc.url = srv.URL
	return svc
}

// TestBrowser drives the UI in Chromium the way an equipment manager uses it: sign in, switch the
// language (and see it kept across a reload), find the officer, have a bad roster refused row by
// row, hand the recorder out and take it back with the scanner keystrokes (serial + Enter,
// badge + Enter, Enter) while the API confirms each step, register a device whose secret is shown
// once and works, and be sent back to sign-in when the session is gone. It also checks that the
// browser's eligibility rule agrees with fleet's, and that the page threw no uncaught exception.
func TestBrowser(t *testing.T) {
	chromium := testenv.Chromium(t)
	svc := startService(t)
	b := newBrowser(t, chromium)

	b.do("open the sign-in page", chromedp.Navigate(svc.url+"/"), chromedp.WaitVisible(chromedp.ID("login-username")))
	if lang := evalJS[string](b, "page language", `document.documentElement.lang`); lang != "zh-CN" {
		t.Errorf("default language = %q, want zh-CN", lang)
	}
	b.waitText("#login-page", "执法记录仪管理平台")

	b.do("sign in",
		chromedp.SendKeys(chromedp.ID("login-username"), "admin"),
		chromedp.SendKeys(chromedp.ID("login-password"), adminPassword),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("app-shell")))
	b.waitText("#nav-desk", "领用归还")
	b.waitText("#nav-officers", "执法人员")
	b.waitText("#user-name", "系统管理员")
	if tok := evalJS[string](b, "token", `sessionStorage.getItem('fleet.token') || ''`); tok == "" {
		t.Error("no token in sessionStorage after signing in")
	}

	// Switch to English: the choice is kept in localStorage and survives a reload, as the session
	// does; then back to Chinese.
	b.do("switch to English", chromedp.Click(chromedp.ID("lang-toggle")))
	b.waitText("#nav-desk", "Assignment desk")
	b.waitText("#logout", "Sign out")
	if got := evalJS[string](b, "saved language", `localStorage.getItem('fleet.lang')`); got != "en" {
		t.Errorf("localStorage fleet.lang = %q, want en", got)
	}
	b.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("app-shell")))
	b.waitText("#nav-desk", "Assignment desk")
	b.do("switch back to Chinese", chromedp.Click(chromedp.ID("lang-toggle")))
	b.waitText("#nav-desk", "领用归还")
	if lang := evalJS[string](b, "page language", `document.documentElement.lang`); lang != "zh-CN" {
		t.Errorf("language after switching back = %q, want zh-CN", lang)
	}

	checkEligibilityParity(t, b)

	b.do("open the officer register", chromedp.Click(chromedp.ID("nav-officers")))
	b.waitText("#officer-table", officerName)
	b.waitText("#officer-table", officerBadge)
	b.waitText("#officer-table", "应配备") // eligible: frontline, on duty, valid certificate

	// A roster with a bad row is refused whole (422), and the row is listed.
	roster := filepath.Join(t.TempDir(), "roster.csv")
	if err := os.WriteFile(roster, []byte("单位编码,姓名,警号,一线\nWH,李四,E2E002,也许\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.do("upload a bad roster",
		chromedp.Click(chromedp.ID("officer-import")),
		chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{roster}),
		chromedp.Click(chromedp.ID("import-submit")))
	b.waitText("#import-errors", "一线")
	b.waitText("#import-errors", "也许")
	b.do("close the import dialog", chromedp.Click(chromedp.CSS("#import-dialog .dialog-foot .btn")),
		chromedp.WaitNotPresent(chromedp.ID("import-dialog")))

	// The assignment desk: the scan input has the focus, so the keystrokes go to the page as a
	// barcode scanner types them.
	b.do("open the assignment desk", chromedp.Click(chromedp.ID("nav-desk")))
	b.waitFocus("scan-input")
	b.do("scan the recorder", chromedp.KeyEvent(recorderSN+"\r"))
	b.waitText("#desk-status", "在库")
	b.waitFocus("officer-pick")
	b.do("type the officer's badge", chromedp.KeyEvent(officerBadge+"\r"))
	b.waitText("#desk-officer", officerName)
	b.waitFocus("checkout-confirm")
	b.do("confirm the check-out", chromedp.KeyEvent("\r"))
	b.waitText("#desk-status", "已领用")
	b.waitText("#desk-done", "领用成功")
	b.waitText("#movements", recorderSN)

	api := newAPIClient(t, svc.url)
	open := api.openAssignments(svc.recorder.ID)
	if len(open) != 1 || open[0].OfficerID != svc.officer.ID {
		t.Fatalf("after check-out the API lists open assignments %+v, want one for officer %s", open, svc.officer.ID)
	}

	b.waitFocus("scan-input")
	b.do("scan the recorder again", chromedp.KeyEvent(recorderSN+"\r"))
	b.waitText("#desk-holder", officerName)
	b.waitFocus("checkin-confirm")
	b.do("confirm the check-in", chromedp.KeyEvent("\r"))
	b.waitText("#desk-done", "归还成功")
	b.waitText("#desk-status", "在库")
	if open := api.openAssignments(svc.recorder.ID); len(open) != 0 {
		t.Fatalf("after check-in the API lists open assignments %+v, want none", open)
	}

	b.do("register a device",
		chromedp.Click(chromedp.ID("nav-devices")),
		chromedp.Click(chromedp.ID("device-new")),
		chromedp.SendKeys(chromedp.ID("device-serial"), newDeviceSN),
		chromedp.SendKeys(chromedp.ID("device-model"), "DSJ-V9"),
		chromedp.Click(chromedp.ID("device-save")),
		chromedp.WaitVisible(chromedp.ID("secret-dialog")))
	b.waitText("#secret-dialog", "只显示这一次")
	secret := b.value("secret-value")
	deviceID := evalJS[string](b, "device id", `document.getElementById('secret-device-id').textContent`)
	if secret == "" {
		t.Fatal("the secret dialog shows no secret")
	}
	// The secret shown is the one the register issued: the device can authenticate with it.
	if d, err := svc.reg.AuthenticateDevice(t.Context(), deviceID, secret); err != nil || d.Serial != newDeviceSN {
		t.Errorf("AuthenticateDevice(%s, shown secret) = %+v, %v; want device %s", deviceID, d, err, newDeviceSN)
	}
	b.do("close the secret dialog", chromedp.Click(chromedp.ID("secret-done")), chromedp.WaitNotPresent(chromedp.ID("secret-dialog")))
	b.waitText("#device-table", newDeviceSN)

	// A session the server no longer knows sends the user back to the sign-in page.
	b.do("expire the session", chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('fleet.token', 'expired'); location.hash = '#/officers'`))
	b.do("back at sign-in", chromedp.WaitVisible(chromedp.ID("login-username")))

	b.checkConsole()
}

// checkEligibilityParity runs the browser's copy of the eligibility rule on the cases of
// fleet.OfficerState.Ineligible and compares the reasons.
func checkEligibilityParity(t *testing.T, b *browser) {
	day := fleet.NewDate(2026, 6, 15)
	valid := fleet.Certificate{Number: "C-1", IssuedOn: day.AddDays(-100), ExpiresOn: day.AddDays(100),
		AnnualReviewUntil: day.AddDays(30), Status: fleet.CertValid}
	with := func(f func(*fleet.OfficerState)) fleet.OfficerState {
		s := fleet.OfficerState{UnitID: "u", Frontline: true, DutyStatus: fleet.OnDuty, Certificate: valid}
		f(&s)
		return s
	}
	states := []fleet.OfficerState{
		with(func(*fleet.OfficerState) {}),
		with(func(s *fleet.OfficerState) { s.Frontline = false }),
		with(func(s *fleet.OfficerState) { s.DutyStatus = fleet.TransferredOut }),
		with(func(s *fleet.OfficerState) { s.DutyStatus = fleet.Retired }),
		with(func(s *fleet.OfficerState) { s.DutyStatus = fleet.LongLeave }),
		with(func(s *fleet.OfficerState) { s.DutyStatus = "something_else" }),
		with(func(s *fleet.OfficerState) { s.Certificate = fleet.Certificate{} }),
		with(func(s *fleet.OfficerState) { s.Certificate.Status = fleet.CertSuspended }),
		with(func(s *fleet.OfficerState) { s.Certificate.Status = fleet.CertRevoked }),
		with(func(s *fleet.OfficerState) { s.Certificate.Status = "" }),
		with(func(s *fleet.OfficerState) { s.Certificate.IssuedOn = day.AddDays(1) }),
		with(func(s *fleet.OfficerState) { s.Certificate.IssuedOn = day }),
		with(func(s *fleet.OfficerState) { s.Certificate.IssuedOn = fleet.Date{} }),
		with(func(s *fleet.OfficerState) { s.Certificate.ExpiresOn = day }),
		with(func(s *fleet.OfficerState) { s.Certificate.ExpiresOn = day.AddDays(-1) }),
		with(func(s *fleet.OfficerState) { s.Certificate.ExpiresOn = fleet.Date{} }),
		with(func(s *fleet.OfficerState) { s.Certificate.AnnualReviewUntil = day }),
		with(func(s *fleet.OfficerState) { s.Certificate.AnnualReviewUntil = day.AddDays(-1) }),
		with(func(s *fleet.OfficerState) { s.Certificate.AnnualReviewUntil = fleet.Date{} }),
		with(func(s *fleet.OfficerState) { s.Frontline = false; s.Certificate = fleet.Certificate{} }),
	}
	want := make([]string, len(states))
	for i, s := range states {
		want[i] = s.Ineligible(day)
	}
	js, err := json.Marshal(states)
	if err != nil {
		t.Fatal(err)
	}
	got := evalJS[[]string](b, "eligibility in the browser",
		fmt.Sprintf(`import('/js/eligibility.js').then((m) => %s.map((s) => m.ineligible(s, %q)))`, js, day))
	if len(got) != len(want) {
		t.Fatalf("browser returned %d reasons for %d cases", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("case %d %+v: browser says %q, fleet says %q", i, states[i], got[i], want[i])
		}
	}
}

// browser is a Chromium tab with step helpers that fail the test with the step's name.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string // uncaught exceptions in the page
}

func newBrowser(t *testing.T, exe string) *browser {
	t.Helper()
	// Flags from shared/INFRA.md: no sandbox as root, and no traffic to anywhere but the test
	// server. The profile is new and is removed with the test.
	profile, err := os.MkdirTemp("", "fleet-e2e-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 800),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &browser{t: t, ctx: ctx}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit
		os.RemoveAll(profile)
	})
	// Start the browser now, with no deadline: a deadline on the first run would end the browser.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", exe, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() {
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	}()
	// Registered after the browser's own cleanup, so it runs first, while the page is still open.
	t.Cleanup(func() {
		if t.Failed() {
			b.screenshot()
		}
	})
	return b
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func evalJS[T any](b *browser, what, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (b *browser) value(id string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID(id)))
	if err != nil {
		b.t.Fatalf("value of #%s: %v", id, err)
	}
	return v
}

// waitText waits until the element of a CSS selector shows text, and fails with what it shows.
func (b *browser) waitText(selector, text string) {
	b.t.Helper()
	sel, _ := json.Marshal(selector)
	txt, _ := json.Marshal(text)
	evalJS[bool](b, fmt.Sprintf("wait for %s to show %q", selector, text), fmt.Sprintf(`new Promise((resolve, reject) => {
		const end = Date.now() + %d;
		(function poll() {
			const el = document.querySelector(%s);
			if (el && el.innerText.includes(%s)) return resolve(true);
			if (Date.now() > end) return reject(new Error(el ? 'it shows: ' + el.innerText.slice(0, 500) : 'no such element'));
			setTimeout(poll, 50);
		})();
	})`, (stepTimeout-2*time.Second).Milliseconds(), sel, txt))
}

// waitFocus waits until the element with id has the keyboard focus.
func (b *browser) waitFocus(id string) {
	b.t.Helper()
	want, _ := json.Marshal(id)
	evalJS[bool](b, fmt.Sprintf("wait for the focus on #%s", id), fmt.Sprintf(`new Promise((resolve, reject) => {
		const end = Date.now() + %d;
		(function poll() {
			if (document.activeElement && document.activeElement.id === %s) return resolve(true);
			if (Date.now() > end) return reject(new Error('the focus is on ' + (document.activeElement ? document.activeElement.outerHTML.slice(0, 200) : 'nothing')));
			setTimeout(poll, 50);
		})();
	})`, (stepTimeout-2*time.Second).Milliseconds(), want))
}

// checkConsole fails the test on uncaught exceptions in the page.
func (b *browser) checkConsole() {
	b.t.Helper()
	// The console events arrive on another goroutine; give the last ones a moment.
	time.Sleep(100 * time.Millisecond)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("page error: %s", p)
	}
}

// screenshot saves the page as a PNG in the test's artifact directory (kept with go test
// -artifacts) and logs the visible text, so that a CI failure can be read from the log alone.
func (b *browser) screenshot() {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG, as the file name says
	if err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	path := filepath.Join(b.t.ArtifactDir(), "failure.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	b.t.Logf("screenshot of the page at the failure: %s", path)
	b.mu.Lock()
	for _, p := range b.problems {
		b.t.Logf("page error before the failure: %s", p)
	}
	b.mu.Unlock()
	if text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 3000)`)); err == nil {
		b.t.Logf("page text at the failure:\n%s", text)
	}
}

// apiClient calls the HTTP API as a script would, to check what the browser did.
type apiClient struct {
	t     *testing.T
	base  string
	token string
}

func newAPIClient(t *testing.T, base string) *apiClient {
	t.Helper()
	c := &apiClient{t: t, base: base}
	var res struct {
		Token string `json:"token"`
	}
	c.call(http.MethodPost, "/api/v1/session", fmt.Sprintf(`{"username":"admin","password":%q}`, adminPassword), &res)
	if res.Token == "" {
		t.Fatal("POST /api/v1/session gave no token")
	}
	c.token = res.Token
	return c
}

func (c *apiClient) openAssignments(deviceID string) []fleet.Assignment {
	c.t.Helper()
	var res struct {
		Items []fleet.Assignment `json:"items"`
	}
	c.call(http.MethodGet, "/api/v1/assignments?open=true&device="+deviceID, "", &res)
	return res.Items
}

func (c *apiClient) call(method, path, body string, out any) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		c.t.Fatalf("%s %s: HTTP %d", method, path, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		c.t.Fatalf("%s %s: decode: %v", method, path, err)
	}
}
