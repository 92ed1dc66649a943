package dockspool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Abandoned is an upload that RemoveIdle removed.
type Abandoned struct {
	OffloadID string
	Name      string
	// Received and Size are from its checkpoint (Size 0 when that was
	// missing or unreadable).
	Received, Size int64
	// LastWrite is when a byte (or the checkpoint) was last written.
	LastWrite time.Time
	// Bytes is the disk space freed.
	Bytes int64
}

// uploadSuffixes are the files of one upload: data, checkpoint, and a
// checkpoint being replaced.
var uploadSuffixes = []string{".part", ".json", ".json.tmp"}

// RemoveIdle removes every upload that received no bytes since before,
// unless a request is writing or storing it now, and returns what it
// removed. Complete uploads count too: one still here after so long was
// never stored (its station gave up) and nobody will ask for it.
func (s *Spool) RemoveIdle(ctx context.Context, before time.Time) ([]Abandoned, error) {
	offloads, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("dock spool: %w", err)
	}
	var removed []Abandoned
	var errs []error
	for _, od := range offloads {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		if !od.IsDir() || !offloadPattern.MatchString(od.Name()) {
			continue
		}
		dir := filepath.Join(s.dir, od.Name())
		rm, err := s.removeIdleIn(dir, od.Name(), before)
		removed = append(removed, rm...)
		if err != nil {
			errs = append(errs, err)
		}
		s.removeDirIfEmpty(dir)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("dock spool: remove idle uploads: %w", err)
	}
	return removed, nil
}

// removeIdleIn removes the idle uploads of one offload's directory.
func (s *Spool) removeIdleIn(dir, offloadID string, before time.Time) ([]Abandoned, error) {
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	// Group the files by upload, with the newest write of each.
	uploads := map[string]*Abandoned{}
	for _, f := range files {
		var name string
		for _, suf := range uploadSuffixes {
			if n, ok := strings.CutSuffix(f.Name(), suf); ok {
				name = n
				break
			}
		}
		fi, err := f.Info()
		if name == "" || err != nil || !fi.Mode().IsRegular() {
			continue
		}
		a := uploads[name]
		if a == nil {
			a = &Abandoned{OffloadID: offloadID, Name: name}
			uploads[name] = a
		}
		if fi.ModTime().After(a.LastWrite) {
			a.LastWrite = fi.ModTime()
		}
		a.Bytes += fi.Size()
	}
	var removed []Abandoned
	var errs []error
	for name, a := range uploads {
		if !a.LastWrite.Before(before) {
			continue
		}
		release, err := s.claim(offloadID, name)
		if err != nil {
			continue // a request has it now: not idle after all
		}
		if m, err := readMeta(filepath.Join(dir, name+".json")); err == nil {
			a.Received, a.Size = m.Received, m.Size
		}
		var rerr []error
		for _, suf := range uploadSuffixes {
			rerr = append(rerr, removeFile(filepath.Join(dir, name+suf)))
		}
		release()
		if err := errors.Join(rerr...); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, *a)
		s.removedUploads.Add(1)
		s.removedBytes.Add(a.Bytes)
	}
	return removed, errors.Join(errs...)
}

// Removed counts the uploads and bytes RemoveIdle removed since New.
func (s *Spool) Removed() (uploads, bytes int64) {
	return s.removedUploads.Load(), s.removedBytes.Load()
}

// IdleSweep is the task of a periodic sweep: it removes the uploads idle
// for maxIdle (default 7 days) and logs each one, since footage a
// station never finished sending may have to be accounted for.
func (s *Spool) IdleSweep(maxIdle time.Duration, logger *slog.Logger) func(context.Context) error {
	if maxIdle <= 0 {
		maxIdle = 7 * 24 * time.Hour
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "dockspool")
	return func(ctx context.Context) error {
		removed, err := s.RemoveIdle(ctx, time.Now().Add(-maxIdle))
		var bytes int64
		for _, a := range removed {
			bytes += a.Bytes
			logger.WarnContext(ctx, "abandoned dock upload removed", "offload", a.OffloadID, "name", a.Name,
				"received_bytes", a.Received, "size_bytes", a.Size, "last_write", a.LastWrite, "freed_bytes", a.Bytes)
		}
		if len(removed) > 0 {
			logger.InfoContext(ctx, "dock spool swept", "uploads", len(removed), "freed_bytes", bytes, "max_idle", maxIdle)
		}
		return err
	}
}
