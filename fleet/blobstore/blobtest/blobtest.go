// Package blobtest checks that a fleet.BlobStore keeps the contract: hash
// verified on Put, nothing stored on a mismatch, a second Put a no-op,
// ranges readable, Delete idempotent. For tests only.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"github.com/lawfleet/fleet/fleet"
)

// Run checks s.
func Run(t *testing.T, s fleet.BlobStore) {
	ctx := context.Background()
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
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }
