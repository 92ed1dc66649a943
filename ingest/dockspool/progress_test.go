package dockspool_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/dockspool"
)

// TestProgress reads what the spool holds of an offload while a request
// writes, and checks that reading changes nothing.
func TestProgress(t *testing.T) {
	s, err := dockspool.New(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("0123456789"), 10)
	sum := sha256.Sum256(body)
	if _, err := s.Begin(dockspool.Upload{OffloadID: "off_1", Name: "a.mp4", Size: 100, SHA256: hex.EncodeToString(sum[:]),
		StartAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(t.Context(), "off_1", "a.mp4", 0, bytes.NewReader(body[:40])); err != nil {
		t.Fatal(err)
	}
	one := func() dockspool.Progress {
		t.Helper()
		ps, err := s.Progress("off_1")
		if err != nil || len(ps) != 1 {
			t.Fatalf("Progress = %+v, %v", ps, err)
		}
		return ps[0]
	}
	if p := one(); p.Name != "a.mp4" || p.Size != 100 || p.Received != 40 || p.OnDisk != 40 || p.Writing || p.UpdatedAt.IsZero() {
		t.Fatalf("after 40 bytes: %+v", p)
	}

	// A request that sent 30 more bytes and is waiting for the rest: the
	// data file shows them before the checkpoint does.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := s.Write(t.Context(), "off_1", "a.mp4", 40, pr)
		done <- err
	}()
	if _, err := pw.Write(body[40:70]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p := one(); p.OnDisk != 70 || !p.Writing; p = one() {
		if time.Now().After(deadline) {
			t.Fatalf("while writing: %+v", p)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if p := one(); p.Received != 40 {
		t.Errorf("checkpoint moved before the request ended: %+v", p)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p := one(); p.Received != 70 || p.OnDisk != 70 || p.Writing {
		t.Errorf("after the request: %+v", p)
	}
	// Reading changed nothing: the upload resumes at 70.
	if u, err := s.Write(t.Context(), "off_1", "a.mp4", 70, bytes.NewReader(body[70:])); err != nil || !u.Complete() {
		t.Fatalf("resume: %+v, %v", u, err)
	}

	if ps, err := s.Progress("off_none"); err != nil || len(ps) != 0 {
		t.Errorf("offload with nothing spooled: %+v, %v", ps, err)
	}
	if _, err := s.Progress("../x"); fleet.ErrorCode(err) != fleet.EINVALID {
		t.Errorf("bad offload id: %v", err)
	}
	if err := s.Discard("off_1", "a.mp4"); err != nil {
		t.Fatal(err)
	}
	if ps, err := s.Progress("off_1"); err != nil || len(ps) != 0 {
		t.Errorf("after Discard: %+v, %v", ps, err)
	}
}
