// Package blobtest checks that a fleet.BlobStore keeps the contract: hash
// verified on Put, nothing stored on a mismatch, a second Put a no-op,
// ranges readable, Delete idempotent, stored files (and only they)
// listed. For tests only.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

// Run checks s, which must also be a fleet.BlobLister.
func Run(t *testing.T, s fleet.BlobStore) {
	ctx := context.Background()
	lister, ok := s.(fleet.BlobLister)
	if !ok {
		t.Fatalf("%T does not list its files (fleet.BlobLister)", s)
	}
	listed := func() map[string]fleet.BlobInfo {
		t.Helper()
		m := map[string]fleet.BlobInfo{}
		if err := lister.ListBlobs(ctx, func(b fleet.BlobInfo) error { m[b.SHA256] = b; return nil }); err != nil {
			t.Fatalf("list: %v", err)
		}
		return m
	}
	before := time.Now().Add(-time.Minute)
	body := make([]byte, 3<<20+17) // over one multipart part of a small PartSize
	rand.Read(body)
	h := sha256.Sum256(body)
	sum := hex.EncodeToString(h[:])
	_, other := func() ([]byte, string) {
		b := []byte("other")
		s := sha256.Sum256(b)
		return b, hex.EncodeToString(s[:])
	}()

	if _, err := s.Stat(ctx, sum); fleet.ErrorCode(err) != fleet.ENOTFOUND {
		t.Fatalf("stat before put: %v", err)
	}
	err := s.Put(ctx, other, int64(len(body)), bytes.NewReader(body))
	if !fleet.HashMismatch(err) {
		t.Fatalf("put under a wrong hash: %v", err)
	}
	if _, err := s.Stat(ctx, other); fleet.ErrorCode(err) != fleet.ENOTFOUND {
		t.Fatalf("a mismatched file was stored: %v", err)
	}
	if err := s.Put(ctx, sum, int64(len(body))-1, bytes.NewReader(body)); !fleet.HashMismatch(err) {
		t.Fatalf("put with a short size: %v", err)
	}
	if err := s.Put(ctx, sum, int64(len(body)), bytes.NewReader(body)); err != nil {
		t.Fatalf("put: %v", err)
	}
	// Again: a no-op that need not read its reader.
	if err := s.Put(ctx, sum, int64(len(body)), iotestErr{}); err != nil {
		t.Fatalf("second put: %v", err)
	}
	if n, err := s.Stat(ctx, sum); err != nil || n != int64(len(body)) {
		t.Fatalf("stat = %d, %v", n, err)
	}
	small := []byte("a second file")
	smallSum := sha256.Sum256(small)
	if err := s.Put(ctx, hex.EncodeToString(smallSum[:]), int64(len(small)), bytes.NewReader(small)); err != nil {
		t.Fatalf("put small: %v", err)
	}
	// Listed: both files with their sizes and a time of storing, and not
	// the refused one nor the upload of it that was abandoned.
	got := listed()
	if len(got) != 2 {
		t.Fatalf("listed %d files, want 2: %v", len(got), got)
	}
	if b := got[sum]; b.SizeBytes != int64(len(body)) || b.ModTime.Before(before) || b.ModTime.After(time.Now().Add(time.Minute)) {
		t.Errorf("listed %+v", b)
	}
	if b := got[hex.EncodeToString(smallSum[:])]; b.SizeBytes != int64(len(small)) {
		t.Errorf("listed small file %+v", b)
	}
	// fn's error stops the listing and comes back.
	calls := 0
	stop := errors.New("stop")
	if err := lister.ListBlobs(ctx, func(fleet.BlobInfo) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("list stopped by fn: %v after %d calls", err, calls)
	}
	if err := s.Delete(ctx, hex.EncodeToString(smallSum[:])); err != nil {
		t.Fatal(err)
	}
	b, err := s.Open(ctx, sum)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if b.Size() != int64(len(body)) {
		t.Errorf("size %d", b.Size())
	}
	if _, err := b.Seek(1<<20, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 100)
	if _, err := io.ReadFull(b, part); err != nil || !bytes.Equal(part, body[1<<20:1<<20+100]) {
		t.Errorf("range read: %v", err)
	}
	b.Close()
	if err := s.Delete(ctx, sum); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, sum); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Open(ctx, sum); fleet.ErrorCode(err) != fleet.ENOTFOUND {
		t.Fatalf("open after delete: %v", err)
	}
	if got := listed(); len(got) != 0 {
		t.Errorf("listed after delete: %v", got)
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }
