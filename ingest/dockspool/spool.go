// Package dockspool keeps the partly received files of dock offloads on
// local disk, so that a station that loses power or its connection
// mid-file resumes where it stopped. Each upload is a data file plus a
// small JSON checkpoint holding the received length and the SHA-256 state
// at that length: a resumed upload goes on hashing from the checkpoint
// instead of reading the prefix again, and memory stays a fixed buffer
// whatever the file size.
//
// The checkpoint is written only after the data file is synced, so after
// a crash the data file is at least as long as the checkpoint says; any
// tail beyond it is cut off and received again.
//
// Uploads that stop receiving bytes and are never resumed (a station
// taken out of service, a recorder collected elsewhere) are removed by
// RemoveIdle after a while, so the spool does not fill the disk.
//
// It imports only the standard library and package fleet (for names and
// error codes). Partial files are local to one fleetd: with several
// processes behind a balancer, a station's requests must stick to one.
package dockspool

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

// Upload is the state of one file of an offload.
type Upload struct {
	OffloadID  string     `json:"offload_id"`
	Name       string     `json:"name"`
	Size       int64      `json:"size_bytes"`
	SHA256     string     `json:"sha256"` // as the station declared it
	StartAt    time.Time  `json:"start_at"`
	EndAt      *time.Time `json:"end_at,omitempty"`
	DurationMS int64      `json:"duration_ms"`
	Lat        *float64   `json:"lat,omitempty"`
	Lon        *float64   `json:"lon,omitempty"`
	Received   int64      `json:"received_bytes"`
	HashState  []byte     `json:"hash_state"` // SHA-256 state after Received bytes
}

// Complete reports whether every byte is in.
func (u Upload) Complete() bool { return u.Received == u.Size }

// Meta is the file's description for the vault.
func (u Upload) Meta() fleet.FileMeta {
	return fleet.FileMeta{Name: u.Name, StartAt: u.StartAt, EndAt: u.EndAt, DurationMS: u.DurationMS, Lat: u.Lat, Lon: u.Lon}
}

// Spool is a directory of uploads in progress.
type Spool struct {
	dir     string
	maxSize int64

	mu   sync.Mutex
	busy map[string]bool // uploads with a writer, or being stored, now

	// What RemoveIdle removed since New, for metrics.
	removedUploads, removedBytes atomic.Int64
}

// New opens the spool at dir; maxSize caps a file.
func New(dir string, maxSize int64) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("dock spool: %w", err)
	}
	return &Spool{dir: dir, maxSize: maxSize, busy: map[string]bool{}}, nil
}

// MaxSize is the largest file accepted.
func (s *Spool) MaxSize() int64 { return s.maxSize }

var offloadPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (s *Spool) paths(offloadID, name string) (data, meta string, err error) {
	if !offloadPattern.MatchString(offloadID) {
		return "", "", fleet.Invalid("id", "not an offload id")
	}
	if _, err := fleet.CheckFileName(name); err != nil {
		return "", "", err
	}
	d := filepath.Join(s.dir, offloadID)
	return filepath.Join(d, name+".part"), filepath.Join(d, name+".json"), nil
}

// Status returns an upload's state; ENOTFOUND when it never began.
func (s *Spool) Status(offloadID, name string) (Upload, error) {
	_, meta, err := s.paths(offloadID, name)
	if err != nil {
		return Upload{}, err
	}
	return readMeta(meta)
}

func readMeta(path string) (Upload, error) {
	var u Upload
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return u, fleet.Errorf(fleet.ENOTFOUND, "no upload of this file has begun")
	} else if err != nil {
		return u, fmt.Errorf("dock spool: %w", err)
	}
	if err := json.Unmarshal(b, &u); err != nil {
		return u, fmt.Errorf("dock spool: checkpoint %s: %w", path, err)
	}
	return u, nil
}

// writeMeta replaces the checkpoint atomically.
func writeMeta(path string, u Upload) error {
	b, err := json.Marshal(u)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return fmt.Errorf("dock spool: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("dock spool: %w", err)
	}
	return nil
}

// Begin starts an upload, or returns the one already begun when it
// declares the same size and hash (a station resuming). A different size
// or hash for a begun file is ECONFLICT: the station must Discard first.
func (s *Spool) Begin(u Upload) (Upload, error) {
	data, meta, err := s.paths(u.OffloadID, u.Name)
	if err != nil {
		return u, err
	}
	if u.Size <= 0 {
		return u, fleet.Invalid("size_bytes", "the file is empty; zero-length files are not evidence")
	}
	if u.Size > s.maxSize {
		return u, &fleet.Error{Code: "too_large", Field: "size_bytes",
			Message: fmt.Sprintf("the file is %d bytes, over the limit of %d", u.Size, s.maxSize)}
	}
	if prev, err := readMeta(meta); err == nil {
		if prev.Size != u.Size || prev.SHA256 != u.SHA256 {
			return prev, &fleet.Error{Code: fleet.ECONFLICT, Field: "sha256",
				Message: fmt.Sprintf("an upload of %s with another size or hash is in progress (%d of %d bytes)", u.Name, prev.Received, prev.Size)}
		}
		return prev, nil
	} else if fleet.ErrorCode(err) != fleet.ENOTFOUND {
		return u, err
	}
	// Under mu so that RemoveIdle cannot remove the offload's directory
	// between the two.
	s.mu.Lock()
	err = os.MkdirAll(filepath.Dir(data), 0o750)
	var f *os.File
	if err == nil {
		f, err = os.OpenFile(data, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	}
	s.mu.Unlock()
	if err != nil {
		return u, fmt.Errorf("dock spool: %w", err)
	}
	f.Close()
	u.Received = 0
	if u.HashState, err = marshalHash(sha256.New()); err != nil {
		return u, err
	}
	return u, writeMeta(meta, u)
}

func marshalHash(h hash.Hash) ([]byte, error) {
	b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("dock spool: save hash state: %w", err)
	}
	return b, nil
}

// Write appends the bytes of r at offset, which must be what was received
// so far. It reads until r ends or the file is whole, and checkpoints
// what it wrote even when r fails midway (a cut connection), so the
// station can ask for the offset and go on. Bytes past the declared size
// are refused.
func (s *Spool) Write(ctx context.Context, offloadID, name string, offset int64, r io.Reader) (Upload, error) {
	data, meta, err := s.paths(offloadID, name)
	if err != nil {
		return Upload{}, err
	}
	release, err := s.claim(offloadID, name)
	if err != nil {
		return Upload{}, err
	}
	defer release()

	u, err := readMeta(meta)
	if err != nil {
		return u, err
	}
	f, err := os.OpenFile(data, os.O_WRONLY, 0)
	if err != nil {
		return u, fmt.Errorf("dock spool: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
		return u, fmt.Errorf("dock spool: restore hash state: %w", err)
	}
	// After a crash the file may be longer than the checkpoint: cut it.
	if err := f.Truncate(u.Received); err != nil {
		return u, fmt.Errorf("dock spool: %w", err)
	}
	if offset != u.Received {
		return u, &fleet.Error{Code: fleet.ECONFLICT, Field: "Content-Range",
			Message: fmt.Sprintf("the upload is at byte %d, not %d; resume from %d", u.Received, offset, u.Received)}
	}
	if _, err := f.Seek(u.Received, io.SeekStart); err != nil {
		return u, fmt.Errorf("dock spool: %w", err)
	}
	remaining := u.Size - u.Received
	n, copyErr := io.CopyBuffer(io.MultiWriter(f, h), io.LimitReader(ctxReader{ctx, r}, remaining), make([]byte, 1<<20))
	var extra [1]byte
	over := false
	if copyErr == nil && n == remaining {
		// Anything after the declared size is an error of the station.
		if m, _ := r.Read(extra[:]); m > 0 {
			over = true
		}
	}
	if n > 0 {
		if err := f.Sync(); err != nil {
			return u, fmt.Errorf("dock spool: sync: %w", err)
		}
		u.Received += n
		if u.HashState, err = marshalHash(h); err != nil {
			return u, err
		}
		if err := writeMeta(meta, u); err != nil {
			return u, err
		}
	}
	if over {
		return u, &fleet.Error{Code: "too_large", Field: "Content-Range",
			Message: fmt.Sprintf("the body goes past the declared size of %d bytes", u.Size)}
	}
	if copyErr != nil {
		return u, fmt.Errorf("dock spool: receive %s at byte %d: %w", name, u.Received, copyErr)
	}
	return u, nil
}

// Sum is the SHA-256 of a complete upload, from its checkpoint.
func (u Upload) Sum() (string, error) {
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
		return "", fmt.Errorf("dock spool: restore hash state: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// claim marks an upload busy until release is called.
func (s *Spool) claim(offloadID, name string) (release func(), err error) {
	key := offloadID + "/" + name
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[key] {
		return nil, fleet.Errorf(fleet.ECONFLICT, "another request is uploading %s now", name)
	}
	s.busy[key] = true
	return func() {
		s.mu.Lock()
		delete(s.busy, key)
		s.mu.Unlock()
	}, nil
}

// Claim hands a complete upload's data file over for storing: it returns
// the file's path and keeps other writers (ECONFLICT) and RemoveIdle off
// the upload until release is called. The vault may rename the file away
// (fleet.Vault.IngestFile); Discard then removes what is left.
func (s *Spool) Claim(offloadID, name string) (path string, release func(), err error) {
	data, meta, err := s.paths(offloadID, name)
	if err != nil {
		return "", nil, err
	}
	if release, err = s.claim(offloadID, name); err != nil {
		return "", nil, err
	}
	u, err := readMeta(meta)
	if err == nil && !u.Complete() {
		err = fleet.Errorf(fleet.ECONFLICT, "%s is not complete: %d of %d bytes", name, u.Received, u.Size)
	}
	if err != nil {
		release()
		return "", nil, err
	}
	return data, release, nil
}

// Path is where an upload's data file is, complete or not.
func (s *Spool) Path(offloadID, name string) (string, error) {
	data, _, err := s.paths(offloadID, name)
	return data, err
}

// Open opens a complete upload's data for the vault to store.
func (s *Spool) Open(offloadID, name string) (*os.File, error) {
	data, _, err := s.paths(offloadID, name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(data)
	if err != nil {
		return nil, fmt.Errorf("dock spool: %w", err)
	}
	return f, nil
}

// Discard removes an upload (after it is stored, or refused).
func (s *Spool) Discard(offloadID, name string) error {
	data, meta, err := s.paths(offloadID, name)
	if err != nil {
		return err
	}
	// The data file is gone already when the vault adopted it.
	if err := errors.Join(removeFile(meta), removeFile(data)); err != nil {
		return fmt.Errorf("dock spool: %w", err)
	}
	s.removeDirIfEmpty(filepath.Dir(data))
	return nil
}

func removeFile(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// removeDirIfEmpty removes an offload's directory once it holds nothing;
// under mu, so that Begin does not lose a directory it just made.
func (s *Spool) removeDirIfEmpty(dir string) {
	s.mu.Lock()
	_ = os.Remove(dir) // fails when not empty
	s.mu.Unlock()
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
