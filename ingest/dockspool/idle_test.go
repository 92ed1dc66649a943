package dockspool_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/dockspool"
)

// begin starts an upload of n random bytes, sends the first sent of them
// and returns them all.
func begin(t *testing.T, s *dockspool.Spool, offload, name string, n, sent int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	h := sha256.Sum256(b)
	u := dockspool.Upload{OffloadID: offload, Name: name, Size: int64(n), SHA256: hex.EncodeToString(h[:]),
		StartAt: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)}
	if _, err := s.Begin(u); err != nil {
		t.Fatalf("begin %s: %v", name, err)
	}
	if got, err := s.Write(context.Background(), offload, name, 0, bytes.NewReader(b[:sent])); err != nil || got.Received != int64(sent) {
		t.Fatalf("write %s: %d, %v", name, got.Received, err)
	}
	return b
}

// age sets the time of every file of an upload (data, checkpoint) back.
func age(t *testing.T, dir, offload, name string, d time.Duration) {
	t.Helper()
	old := time.Now().Add(-d)
	matches, _ := filepath.Glob(filepath.Join(dir, offload, name+".*"))
	if len(matches) == 0 {
		t.Fatalf("no files of %s/%s", offload, name)
	}
	for _, p := range matches {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

func names(as []dockspool.Abandoned) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.OffloadID+"/"+a.Name)
	}
	slices.Sort(out)
	return out
}

func TestRemoveIdle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := dockspool.New(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	const week = 7 * 24 * time.Hour
	begin(t, s, "off_old", "A.mp4", 10_000, 4_000) // abandoned 8 days ago
	begin(t, s, "off_old", "B.mp4", 10_000, 2_000) // same offload, written an hour ago
	begin(t, s, "off_new", "C.mp4", 10_000, 9_000) // fresh
	begin(t, s, "off_busy", "E.mp4", 5_000, 5_000) // complete, old, but being stored now
	begin(t, s, "off_done", "F.mp4", 5_000, 5_000) // complete, old, never stored
	age(t, dir, "off_old", "B.mp4", time.Hour)
	age(t, dir, "off_busy", "E.mp4", 30*24*time.Hour)
	age(t, dir, "off_done", "F.mp4", 30*24*time.Hour)
	// A checkpoint left half-replaced by a crash, as old as A.
	stray := filepath.Join(dir, "off_old", "A.mp4.json.tmp")
	if err := os.WriteFile(stray, []byte("{"), 0o640); err != nil {
		t.Fatal(err)
	}
	age(t, dir, "off_old", "A.mp4", week+24*time.Hour)

	_, release, err := s.Claim("off_busy", "E.mp4")
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	removed, err := s.RemoveIdle(ctx, time.Now().Add(-week))
	release()
	if err != nil {
		t.Fatal(err)
	}
	if got := names(removed); !slices.Equal(got, []string{"off_done/F.mp4", "off_old/A.mp4"}) {
		t.Fatalf("removed %v", got)
	}
	for _, a := range removed {
		if a.Name == "A.mp4" && (a.Received != 4_000 || a.Size != 10_000 || a.Bytes < 4_000 || time.Since(a.LastWrite) < week) {
			t.Errorf("abandoned A = %+v", a)
		}
	}
	if _, err := s.Status("off_old", "A.mp4"); fleet.ErrorCode(err) != fleet.ENOTFOUND {
		t.Errorf("A still in the spool: %v", err)
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Errorf("stray checkpoint kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "off_done")); !os.IsNotExist(err) {
		t.Errorf("empty offload directory kept: %v", err)
	}
	for _, k := range [][2]string{{"off_old", "B.mp4"}, {"off_new", "C.mp4"}, {"off_busy", "E.mp4"}} {
		if _, err := s.Status(k[0], k[1]); err != nil {
			t.Errorf("%s/%s removed: %v", k[0], k[1], err)
		}
	}
	// B can still resume.
	if u, err := s.Write(ctx, "off_old", "B.mp4", 2_000, bytes.NewReader(make([]byte, 100))); err != nil || u.Received != 2_100 {
		t.Errorf("resume B: %d, %v", u.Received, err)
	}
	if n, b := s.Removed(); n != 2 || b < 9_000 {
		t.Errorf("Removed() = %d uploads, %d bytes", n, b)
	}

	// The sweep's task logs each one it removes.
	var logs bytes.Buffer
	age(t, dir, "off_old", "B.mp4", 8*24*time.Hour)
	if err := s.IdleSweep(0, slog.New(slog.NewTextHandler(&logs, nil)))(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "abandoned dock upload removed") || !strings.Contains(logs.String(), "name=B.mp4") ||
		strings.Contains(logs.String(), "C.mp4") {
		t.Errorf("sweep log:\n%s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "off_old")); !os.IsNotExist(err) {
		t.Errorf("off_old kept after its last upload went: %v", err)
	}
}

func TestClaim(t *testing.T) {
	ctx := context.Background()
	s, err := dockspool.New(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	body := begin(t, s, "off_1", "V.mp4", 3_000, 1_000)
	if _, _, err := s.Claim("off_1", "V.mp4"); fleet.ErrorCode(err) != fleet.ECONFLICT {
		t.Fatalf("claim of a partial upload: %v", err)
	}
	if _, _, err := s.Claim("off_1", "W.mp4"); fleet.ErrorCode(err) != fleet.ENOTFOUND {
		t.Fatalf("claim of no upload: %v", err)
	}
	if _, err := s.Write(ctx, "off_1", "V.mp4", 1_000, bytes.NewReader(body[1_000:])); err != nil {
		t.Fatal(err)
	}
	path, release, err := s.Claim("off_1", "V.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("claimed file: %v", err)
	}
	// Nobody else writes it while it is claimed.
	if _, err := s.Write(ctx, "off_1", "V.mp4", 3_000, bytes.NewReader(nil)); fleet.ErrorCode(err) != fleet.ECONFLICT {
		t.Errorf("write while claimed: %v", err)
	}
	if _, _, err := s.Claim("off_1", "V.mp4"); fleet.ErrorCode(err) != fleet.ECONFLICT {
		t.Errorf("second claim: %v", err)
	}
	// The vault took the file; Discard removes the rest.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Discard("off_1", "V.mp4"); err != nil {
		t.Fatalf("discard after the data went: %v", err)
	}
	release()
	if _, err := s.Status("off_1", "V.mp4"); fleet.ErrorCode(err) != fleet.ENOTFOUND {
		t.Errorf("status after discard: %v", err)
	}
}
