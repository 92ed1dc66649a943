// Package disk is the local-disk fleet.BlobStore, the embedded default:
// evidence files under one directory, content-addressed by SHA-256
// (DIR/ab/cd/abcd…), each written to a temporary file, hashed while it is
// written, synced, made read-only and only then renamed into place, so a
// file under its final name is always whole and never changes.
//
// It imports only the standard library and package fleet.
package disk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lawfleet/fleet/fleet"
)

// Store keeps files under a directory.
type Store struct {
	dir string
}

var _ fleet.BlobStore = (*Store)(nil)

// New opens (creating if needed) the store at dir.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o750); err != nil {
		return nil, fmt.Errorf("disk blob store: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Path is where the file of sum lives; the verifier's tests use it to
// tamper with a file.
func (s *Store) Path(sum string) string {
	return filepath.Join(s.dir, sum[:2], sum[2:4], sum)
}

func checkSum(sum string) error {
	_, err := fleet.CheckSHA256("sha256", sum)
	return err
}

// Put writes size bytes from r under sum if they hash to it.
func (s *Store) Put(ctx context.Context, sum string, size int64, r io.Reader) error {
	if err := checkSum(sum); err != nil {
		return err
	}
	final := s.Path(sum)
	if fi, err := os.Stat(final); err == nil && fi.Size() == size {
		return nil // stored already: content addressing makes a re-send a no-op
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), sum[:16]+"-*.part")
	if err != nil {
		return fmt.Errorf("disk blob store: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	defer tmp.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(tmp, h), io.LimitReader(ctxReader{ctx, r}, size+1), make([]byte, 1<<20))
	if err != nil {
		return fmt.Errorf("disk blob store: write %s: %w", sum, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if n != size {
		return &fleet.Error{Code: fleet.ECONFLICT, Field: "size_bytes",
			Message: fmt.Sprintf("%s: got %d bytes, declared %d", fleet.EHASHMISMATCH, n, size)}
	}
	if got != sum {
		return fleet.ErrHashMismatch(sum, got)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("disk blob store: sync %s: %w", sum, err)
	}
	if err := tmp.Chmod(0o440); err != nil {
		return fmt.Errorf("disk blob store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("disk blob store: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return fmt.Errorf("disk blob store: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("disk blob store: place %s: %w", sum, err)
	}
	// The rename is durable only once the directory is synced.
	if d, err := os.Open(filepath.Dir(final)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

type blob struct {
	*os.File
	size int64
}

func (b blob) Size() int64 { return b.size }

// Open opens the file of sum.
func (s *Store) Open(ctx context.Context, sum string) (fleet.Blob, error) {
	if err := checkSum(sum); err != nil {
		return nil, err
	}
	f, err := os.Open(s.Path(sum))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fleet.Errorf(fleet.ENOTFOUND, "evidence file %s not found", sum)
	} else if err != nil {
		return nil, fmt.Errorf("disk blob store: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("disk blob store: %w", err)
	}
	return blob{f, fi.Size()}, nil
}

// Stat returns the stored size of sum.
func (s *Store) Stat(ctx context.Context, sum string) (int64, error) {
	if err := checkSum(sum); err != nil {
		return 0, err
	}
	fi, err := os.Stat(s.Path(sum))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fleet.Errorf(fleet.ENOTFOUND, "evidence file %s not found", sum)
	} else if err != nil {
		return 0, fmt.Errorf("disk blob store: %w", err)
	}
	return fi.Size(), nil
}

// Delete removes the file of sum.
func (s *Store) Delete(ctx context.Context, sum string) error {
	if err := checkSum(sum); err != nil {
		return err
	}
	if err := os.Remove(s.Path(sum)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("disk blob store: delete %s: %w", sum, err)
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
