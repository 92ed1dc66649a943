package ui_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest"
	"github.com/lawfleet/fleet/ingest/video"
	"github.com/lawfleet/fleet/web/ui"
)

// These tests need no browser: they check the embedded files, the dictionaries and the promise
// that the UI works offline.

func TestFSHasTheApp(t *testing.T) {
	root := ui.FS()
	for _, name := range []string{"index.html", "css/app.css", "js/app.js", "i18n/zh-CN.json", "i18n/en.json", "favicon.svg",
		"js/pages/command.js", "vendor/README.md",
		"vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css", "vendor/leaflet/LICENSE",
		"vendor/leaflet/images/marker-icon.png", "vendor/leaflet/images/marker-icon-2x.png", "vendor/leaflet/images/marker-shadow.png",
		"vendor/leaflet/images/layers.png", "vendor/leaflet/images/layers-2x.png",
		"vendor/hls/hls.light.min.mjs", "vendor/hls/LICENSE"} {
		if _, err := fs.Stat(root, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	index, err := fs.ReadFile(root, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{`src="/js/app.js"`, `href="/css/app.css"`, `lang="zh-CN"`} {
		if !strings.Contains(string(index), ref) {
			t.Errorf("index.html lacks %s", ref)
		}
	}
}

var importRe = regexp.MustCompile(`(?:from\s+|import\()\s*'(\.{1,2}/[^']+)'`)

// TestModuleImportsResolve checks that every relative ES module import names an embedded file:
// with no build step, a typo would only show as a blank page.
func TestModuleImportsResolve(t *testing.T) {
	root := ui.FS()
	for name, src := range jsFiles(t) {
		for _, m := range importRe.FindAllStringSubmatch(src, -1) {
			target := path.Join(path.Dir(name), m[1])
			if _, err := fs.Stat(root, target); err != nil {
				t.Errorf("%s imports %s: %v", name, m[1], err)
			}
		}
	}
}

// vendorMentions are the other hosts that vendored files name without loading anything from
// them: an upgrade that adds one fails TestOffline until it is checked and listed here.
var vendorMentions = map[string][]string{
	// The attribution prefix links to the library's site; the command centre replaces the prefix.
	"vendor/leaflet/leaflet.js": {"https://leafletjs.com"},
	// Comments naming browser bugs.
	"vendor/leaflet/leaflet.css": {"https://bugs.chromium.org", "https://bugzilla.mozilla.org"},
	// An MPEG-DASH event scheme id compared as a string, and the end of a regular expression
	// literal (/…/i.test) that only looks like a host.
	"vendor/hls/hls.light.min.mjs": {"https://aomedia.org", "//i.test"},
}

// TestOffline checks that nothing is loaded from another host: the agencies' machines have no
// internet access at run time. Licence texts are not loaded by the page and may name hosts.
func TestOffline(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err := fs.WalkDir(ui.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Base(name) == "LICENSE" {
			return err
		}
		b, err := fs.ReadFile(ui.FS(), name)
		if err != nil {
			return err
		}
		for _, m := range external.FindAllString(string(b), -1) {
			if strings.Contains(m, "www.w3.org") { // XML namespaces, not fetched
				continue
			}
			if slices.Contains(vendorMentions[name], m) {
				continue
			}
			t.Errorf("%s refers to another host: %s", name, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var (
	cssComment = regexp.MustCompile(`(?s)/\*.*?\*/`)
	cssURL     = regexp.MustCompile(`url\(\s*['"]?([^'")]+)['"]?\s*\)`)
	pinnedHash = regexp.MustCompile(`(?m)^([0-9a-f]{64})  (\S+)$`)
)

// TestVendored checks the vendored libraries: every file is the one fetched from the registry
// (the sha256 sums in vendor/README.md: patch nothing there, configure the library instead),
// every vendored file is listed, and the images a vendored stylesheet uses are embedded beside it.
func TestVendored(t *testing.T) {
	root := ui.FS()
	readme, err := fs.ReadFile(root, "vendor/README.md")
	if err != nil {
		t.Fatal(err)
	}
	pinned := map[string]string{}
	for _, m := range pinnedHash.FindAllStringSubmatch(string(readme), -1) {
		pinned["vendor/"+m[2]] = m[1]
	}
	if len(pinned) == 0 {
		t.Fatal("vendor/README.md lists no sha256 sums")
	}
	err = fs.WalkDir(root, "vendor", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || name == "vendor/README.md" {
			return err
		}
		b, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		sum := fmt.Sprintf("%x", sha256.Sum256(b))
		switch want, ok := pinned[name]; {
		case !ok:
			t.Errorf("%s is not listed in vendor/README.md", name)
		case sum != want:
			t.Errorf("%s has sha256 %s, vendor/README.md says %s: vendored files are not edited", name, sum, want)
		}
		delete(pinned, name)
		if strings.HasSuffix(name, ".css") {
			css := cssComment.ReplaceAllString(string(b), "")
			for _, m := range cssURL.FindAllStringSubmatch(css, -1) {
				ref := m[1]
				if strings.HasPrefix(ref, "#") || strings.HasPrefix(ref, "data:") {
					continue // an old IE behaviour reference; inline data
				}
				if strings.Contains(ref, ":") || strings.HasPrefix(ref, "/") {
					t.Errorf("%s uses %s: only files beside it", name, ref)
					continue
				}
				if _, err := fs.Stat(root, path.Join(path.Dir(name), ref)); err != nil {
					t.Errorf("%s uses %s: %v", name, ref, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range pinned {
		t.Errorf("vendor/README.md lists %s, which is not embedded", name)
	}
}

// TestDictionaries checks that both languages have the same keys, no empty text, the same
// {placeholders}, and a text for every key the code uses and every value the domain defines.
func TestDictionaries(t *testing.T) {
	zh, en := dictionary(t, "zh-CN"), dictionary(t, "en")
	for k, v := range zh {
		w, ok := en[k]
		if !ok {
			t.Errorf("en.json lacks %q", k)
			continue
		}
		if strings.TrimSpace(v) == "" || strings.TrimSpace(w) == "" {
			t.Errorf("%q has an empty text", k)
		}
		if a, b := placeholders(v), placeholders(w); !slices.Equal(a, b) {
			t.Errorf("%q: zh-CN has placeholders %v, en has %v", k, a, b)
		}
	}
	for k := range en {
		if _, ok := zh[k]; !ok {
			t.Errorf("zh-CN.json lacks %q", k)
		}
	}

	// Keys written out in the code: t('key', …), has('key').
	used := regexp.MustCompile(`\b(?:t|has)\('([a-zA-Z][\w.]*)'`)
	for name, src := range jsFiles(t) {
		for _, m := range used.FindAllStringSubmatch(src, -1) {
			if _, ok := zh[m[1]]; !ok {
				t.Errorf("%s uses %q, which zh-CN.json lacks", name, m[1])
			}
		}
	}

	// Keys the code builds from domain values: every value needs a text.
	need := map[string][]string{
		"status": {string(fleet.StatusInStock), string(fleet.StatusAssigned), string(fleet.StatusInRepair),
			string(fleet.StatusLost), string(fleet.StatusRetired)},
		"kind": {string(fleet.KindRecorder), string(fleet.KindVehicleTerminal), string(fleet.KindAISUnit)},
		"duty": {string(fleet.OnDuty), string(fleet.TransferredOut), string(fleet.Retired), string(fleet.LongLeave)},
		"cert": {string(fleet.CertValid), string(fleet.CertSuspended), string(fleet.CertRevoked)},
		"level": {string(fleet.LevelProvince), string(fleet.LevelCity), string(fleet.LevelCounty),
			string(fleet.LevelStation)},
		"role": {string(fleet.RoleAdmin), string(fleet.RoleEquipmentManager), string(fleet.RoleCommander),
			string(fleet.RoleOfficer), string(fleet.RoleAuditor)},
		"reason": {fleet.ReasonNotFrontline, fleet.ReasonTransferredOut, fleet.ReasonRetired, fleet.ReasonLongLeave,
			fleet.ReasonNoCertificate, fleet.ReasonNotYetIssued, fleet.ReasonCertExpired, fleet.ReasonCertSuspended,
			fleet.ReasonCertRevoked, fleet.ReasonReviewLapsed},
		"code": {fleet.EINVALID, fleet.ENOTFOUND, fleet.ECONFLICT, fleet.EUNAUTHORIZED, fleet.EFORBIDDEN,
			fleet.EUNAVAILABLE, fleet.EINTERNAL},
		"nav": {"desk", "devices", "officers", "units", "command", "coverage", "evidence", "firmware", "audit"},
		// The command centre's keys built from ingest's values and its own ids.
		"alert.kind": {string(ingest.AlertSOS), string(ingest.AlertLowBattery), string(ingest.AlertStorageLow),
			string(ingest.AlertTamper), string(ingest.AlertOffline)},
		"alerts.priority": {string(ingest.PriorityCritical), string(ingest.PriorityHigh), string(ingest.PriorityWarning)},
		"alerts.action":   {ingest.ActionRaised, ingest.ActionAcked, ingest.ActionCleared, ingest.ActionReopened},
		"alerts.state":    {string(fleet.AlertOpen), string(fleet.AlertAcked), string(fleet.AlertCleared)},
		"map":             {"online", "offline", "sos"},
		"map.layer":       {"recorder", "vehicle_terminal", "vessels", "other_vessels", "grid", "units"},
		"live": {"connecting", "live", "retrying", "polling", "off", "connectingHint", "liveHint", "retryingHint",
			"pollingHint", "offHint"},
		"track":       {"play", "pause"},
		"video.state": {video.StateIdle, video.StateStarting, video.StateLive, video.StateRetrying, video.StateFailed},
	}
	for prefix, values := range need {
		for _, v := range values {
			if _, ok := zh[prefix+"."+v]; !ok {
				t.Errorf("zh-CN.json lacks %s.%s", prefix, v)
			}
		}
	}
}

// TestChineseTerms pins the words of DOMAIN.md that managers know from the policy documents.
func TestChineseTerms(t *testing.T) {
	zh := dictionary(t, "zh-CN")
	want := map[string]string{
		"kind.recorder": "执法记录仪", "kind.vehicle_terminal": "车载终端", "kind.ais_unit": "船载AIS",
		"status.in_stock": "在库", "status.assigned": "已领用", "status.in_repair": "维修中", "status.lost": "遗失",
		"status.retired": "报废", "duty.on_duty": "在岗", "duty.transferred_out": "调离", "duty.retired": "退休",
		"duty.long_leave": "长期请假", "desk.out": "领用", "desk.in": "归还", "officers.certificate": "执法证",
		"nav.coverage": "覆盖率", "nav.command": "指挥中心",
	}
	for k, v := range want {
		if zh[k] != v {
			t.Errorf("zh-CN %s = %q, want %q", k, zh[k], v)
		}
	}
}

func dictionary(t *testing.T, lang string) map[string]string {
	t.Helper()
	b, err := fs.ReadFile(ui.FS(), "i18n/"+lang+".json")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]string
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("i18n/%s.json: %v", lang, err)
	}
	return d
}

var placeholderRe = regexp.MustCompile(`\{(\w+)\}`)

func placeholders(s string) []string {
	var out []string
	for _, m := range placeholderRe.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func jsFiles(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(ui.FS(), "js", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(name, ".js") {
			return err
		}
		b, err := fs.ReadFile(ui.FS(), name)
		out[name] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no JavaScript files embedded")
	}
	return out
}
