package sim

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lawfleet/fleet/firmware"
)

// reports collects what an agent publishes.
type reports struct {
	mu   sync.Mutex
	msgs []map[string]any
}

func (r *reports) publish(topic string, _ byte, _ bool, payload []byte) error {
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		return err
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	return nil
}

func (r *reports) last() map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msgs[len(r.msgs)-1]
}

// The simulated device downloads with Range (resuming after a drop),
// checks hash and signature, and refuses what does not check out.
func TestFirmwareAgent(t *testing.T) {
	image := bytes.Repeat([]byte("A8 firmware 2.0 "), 20_000) // 320 kB: several chunks
	sum := sha256.Sum256(image)
	hexSum := hex.EncodeToString(sum[:])
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	good := firmware.Sign(key, "DSJ-A8", "2.0", int64(len(image)), hexSum)
	tampered := append([]byte(nil), image...)
	tampered[1000] ^= 0xff

	for _, tc := range []struct {
		name      string
		serve     []byte
		signature string
		cfg       FirmwareConfig
		wantState string
		wantText  string
	}{
		{"good image", image, good, FirmwareConfig{}, firmware.ReportDone, ""},
		{"resumed after a drop", image, good, FirmwareConfig{DropAfterBytes: 100_000}, firmware.ReportDone, ""},
		{"tampered image", tampered, good, FirmwareConfig{}, firmware.ReportFailed, "sha256 mismatch"},
		{"signed by a stranger", image, firmware.Sign(other, "DSJ-A8", "2.0", int64(len(image)), hexSum),
			FirmwareConfig{}, firmware.ReportFailed, "bad signature"},
		{"signed for another version", image, firmware.Sign(key, "DSJ-A8", "1.9", int64(len(image)), hexSum),
			FirmwareConfig{}, firmware.ReportFailed, "bad signature"},
		{"install fails", image, good, FirmwareConfig{FailRate: 1}, firmware.ReportFailed, "flash"},
		{"rolls back", image, good, FirmwareConfig{RollbackRate: 1}, firmware.ReportDone, ""},
		{"recording", image, good, FirmwareConfig{Busy: func(string) bool { return true }}, firmware.ReportDeferred, "recording"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ranges []string
			var mu sync.Mutex
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				ranges = append(ranges, r.Header.Get("Range"))
				mu.Unlock()
				w.Header().Set("ETag", `"`+hexSum+`"`)
				http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(tc.serve))
			}))
			defer srv.Close()
			cfg := tc.cfg
			cfg.Trusted, cfg.ChunkBytes = []ed25519.PublicKey{pub}, 64<<10
			var rep reports
			a := NewFirmwareAgent(cfg, "dev_1", "1.0", 1, rep.publish)
			cmd, _ := json.Marshal(firmware.UpdateCommand{Job: "fwj_1", URL: srv.URL + "/img?job=fwj_1&token=t",
				Size: int64(len(image)), SHA256: hexSum, Signature: tc.signature, Version: "2.0", Model: "DSJ-A8"})
			a.Handle(t.Context(), cmd)

			last := rep.last()
			if last["state"] != tc.wantState || !strings.Contains(asString(last["error"]), tc.wantText) {
				t.Fatalf("last report %v, want %s %q", last, tc.wantState, tc.wantText)
			}
			wantVersion := "1.0"
			if tc.name == "good image" || tc.name == "resumed after a drop" {
				wantVersion = "2.0"
			}
			if a.Version() != wantVersion {
				t.Errorf("runs %s, want %s", a.Version(), wantVersion)
			}
			if tc.wantState == firmware.ReportDone && last["version"] != wantVersion {
				t.Errorf("reported version %v", last["version"])
			}
			if tc.name == "resumed after a drop" {
				// The chunk cut at 100,000 bytes is asked for again from
				// there, not from the start.
				mu.Lock()
				defer mu.Unlock()
				if !containsString(ranges, "bytes=100000-") {
					t.Errorf("no resume from the drop: %v", ranges)
				}
			}
		})
	}
}

func asString(v any) string { s, _ := v.(string); return s }

func containsString(ss []string, prefix string) bool {
	for _, s := range ss {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
