// Package disk is the local-disk fleet.BlobStore, the embedded default:
// evidence files under one directory, content-addressed by SHA-256
// (DIR/ab/cd/abcd…), each written to a temporary file, hashed while it is
// written, synced, made read-only and only then renamed into place, so a
// file under its final name is always whole and never changes. A file
// already on the same filesystem (the dock spool's) can be adopted by
// rename instead of copied (AdoptFile).
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
	"syscall"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

// Store keeps files under a directory.
type Store struct {
	dir string
	// rename is os.Rename; tests replace it to force the copy that a
	// rename across filesystems falls back to.
	rename func(oldpath, newpath string) error
}

var (
	_ fleet.BlobStore   = (*Store)(nil)
	_ fleet.FileAdopter = (*Store)(nil)
	_ fleet.BlobLister  = (*Store)(nil)
)

// New opens (creating if needed) the store at dir.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o750); err != nil {
		return nil, fmt.Errorf("disk blob store: %w", err)
	}
	return &Store{dir: dir, rename: os.Rename}, nil
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
	syncDir(filepath.Dir(final))
	return nil
}

// syncDir makes a rename into dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// AdoptFile makes the file at path, already hashed to sum by whoever
// received it, the stored file of sum by renaming it into place.
//
// Why a rename keeps "hashed at the dock, checked at every move": the
// dock spool hashed these very bytes as it wrote them to path, synced
// them, and the caller compared that hash with sum before calling. A
// rename on one filesystem moves no bytes, only a directory entry, so
// the bytes under the final name are the bytes that were hashed; the
// only thing a rename could get wrong, the file's length (a truncated or
// extended spool file), is checked here. The integrity sweep re-hashes
// stored files on its own schedule. Across filesystems the bytes do move,
// so there AdoptFile copies through Put, which hashes them again.
func (s *Store) AdoptFile(ctx context.Context, sum string, size int64, path string) error {
	if err := checkSum(sum); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("disk blob store: adopt %s: %w", sum, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("disk blob store: adopt %s: %w", sum, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("disk blob store: adopt %s: %s is not a regular file", sum, path)
	}
	if fi.Size() != size {
		return &fleet.Error{Code: fleet.ECONFLICT, Field: "size_bytes",
			Message: fmt.Sprintf("%s: the file is %d bytes, declared %d", fleet.EHASHMISMATCH, fi.Size(), size)}
	}
	final := s.Path(sum)
	if st, err := os.Stat(final); err == nil && st.Size() == size {
		// Stored already: content addressing makes the copy redundant.
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("disk blob store: adopt %s: %w", sum, err)
		}
		return nil
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("disk blob store: sync %s: %w", sum, err)
	}
	// Read-only before it takes its final name, as Put does, and stamped
	// with the time it was stored: the orphan sweep's grace period counts
	// from then, not from when the station sent the last byte.
	if err := f.Chmod(0o440); err != nil {
		return fmt.Errorf("disk blob store: %w", err)
	}
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		return fmt.Errorf("disk blob store: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return fmt.Errorf("disk blob store: %w", err)
	}
	err = s.rename(path, final)
	if errors.Is(err, syscall.EXDEV) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("disk blob store: adopt %s: %w", sum, err)
		}
		if err := s.Put(ctx, sum, size, f); err != nil {
			return err
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("disk blob store: adopt %s: %w", sum, err)
		}
		return nil
	}
	if err != nil {
		_ = f.Chmod(fi.Mode().Perm()) // left to its owner as it was
		return fmt.Errorf("disk blob store: place %s: %w", sum, err)
	}
	syncDir(filepath.Dir(final))
	return nil
}

// ListBlobs calls fn for every stored file. Temporary files of writes in
// progress and anything not named like a stored file are skipped.
func (s *Store) ListBlobs(ctx context.Context, fn func(fleet.BlobInfo) error) error {
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if p == filepath.Join(s.dir, "tmp") {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if sum, err := fleet.CheckSHA256("sha256", name); err != nil || sum != name || !d.Type().IsRegular() || s.Path(name) != p {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return err
		}
		return fn(fleet.BlobInfo{SHA256: name, SizeBytes: fi.Size(), ModTime: fi.ModTime()})
	})
	if err != nil {
		return fmt.Errorf("disk blob store: list: %w", err)
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
