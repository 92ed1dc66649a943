package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Orphan files: a stored file no evidence item holds. Two ways make one:
// a crash (or a failed commit) between storing a file and recording its
// item, and a deletion whose file removal failed after the deletion was
// committed (see dropFile). Neither is evidence: no item, no custody, no
// retention applies to it. They are removed only after a grace period
// counted from when the file was stored, so that an ingest in progress,
// whose file is stored a moment before its item, is never touched.

// DefaultOrphanGrace is how old an unreferenced file must be before the
// orphan sweep removes it.
const DefaultOrphanGrace = 24 * time.Hour

// orphanBatch is how many candidate files are checked against the
// register in one read, which bounds the sweep's memory.
const orphanBatch = 500

// RemoveOrphanFiles removes every stored file stored before now - grace
// (DefaultOrphanGrace when grace <= 0) that no live item references, and
// calls removed (may be nil) with each. A file of a live item, held or
// not, is never removed. Each removal is in the audit log as the
// system's. It needs a blob store that lists its files (BlobLister).
func (v *Vault) RemoveOrphanFiles(ctx context.Context, grace time.Duration, removed func(BlobInfo)) (n int, err error) {
	lister, ok := v.blobs.(BlobLister)
	if !ok {
		return 0, Errorf(EUNAVAILABLE, "the evidence store cannot list its files")
	}
	if grace <= 0 {
		grace = DefaultOrphanGrace
	}
	cutoff := v.now().Add(-grace)
	var batch []BlobInfo
	flush := func() error {
		orphans, err := v.unreferenced(ctx, batch)
		batch = batch[:0]
		if err != nil {
			return err
		}
		for _, b := range orphans {
			gone, err := v.removeOrphan(ctx, b, grace)
			if err != nil {
				return err
			}
			if gone {
				n++
				if removed != nil {
					removed(b)
				}
			}
		}
		return nil
	}
	err = lister.ListBlobs(ctx, func(b BlobInfo) error {
		if !b.ModTime.Before(cutoff) {
			return nil
		}
		batch = append(batch, b)
		if len(batch) < orphanBatch {
			return nil
		}
		return flush()
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	if err != nil {
		return n, fmt.Errorf("remove orphan evidence files: %w", err)
	}
	return n, nil
}

// fileReferenced reports whether the newest item holding sum keeps its
// file. One sum has at most one live item (Ingest reuses a live one), and
// it is the newest, so the newest item decides.
func fileReferenced(ctx context.Context, tx EvidenceTx, sum string) (bool, error) {
	it, err := tx.EvidenceItemBySHA256(ctx, sum)
	if ErrorCode(err) == ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return it.DeletedAt == nil || it.LegalHold, nil
}

// unreferenced filters bs to the files no live item references, in one
// read transaction: most files are referenced, and this spares them the
// writing transaction removeOrphan takes.
func (v *Vault) unreferenced(ctx context.Context, bs []BlobInfo) (out []BlobInfo, err error) {
	err = v.store.ViewEvidence(ctx, func(tx EvidenceTx) error {
		out = out[:0]
		for _, b := range bs {
			ref, err := fileReferenced(ctx, tx, b.SHA256)
			if err != nil {
				return err
			}
			if !ref {
				out = append(out, b)
			}
		}
		return nil
	})
	return out, err
}

// removeOrphan checks again and removes one file, inside a writing
// transaction: writers are serialised, and Ingest checks that its file is
// still stored in the transaction that records the item, so either this
// sees the new item and keeps the file, or Ingest sees the file gone and
// fails (the station sends it again), never a live item without a file.
func (v *Vault) removeOrphan(ctx context.Context, b BlobInfo, grace time.Duration) (gone bool, err error) {
	err = v.store.UpdateEvidence(ctx, func(tx EvidenceTx) error {
		ref, err := fileReferenced(ctx, tx, b.SHA256)
		if err != nil || ref {
			return err
		}
		if err := v.blobs.Delete(ctx, b.SHA256); err != nil {
			return err
		}
		gone = true
		return v.audit(ctx, tx, system, "evidence.orphan_delete", "evidence_file", b.SHA256, "",
			fmt.Sprintf("no live evidence item holds this file, stored %s, over %s ago", b.ModTime.UTC().Format(time.RFC3339), grace),
			map[string]any{"sha256": b.SHA256, "size_bytes": b.SizeBytes, "stored_at": b.ModTime.UTC()})
	})
	return gone, err
}

// NewOrphanSweep removes orphan files (see RemoveOrphanFiles) every
// interval (default 6 h), older than grace (default 24 h), logging each
// and calling removed (may be nil) with it, e.g. to count them.
func NewOrphanSweep(v *Vault, interval, grace time.Duration, removed func(BlobInfo), logger *slog.Logger) *Sweep {
	if interval <= 0 {
		interval = 6 * time.Hour
	}
	s := newSweep("orphans", interval, logger)
	s.task = func(ctx context.Context) error {
		n, err := v.RemoveOrphanFiles(ctx, grace, func(b BlobInfo) {
			s.logger.WarnContext(ctx, "orphan evidence file removed", "sha256", b.SHA256, "size_bytes", b.SizeBytes,
				"stored_at", b.ModTime)
			if removed != nil {
				removed(b)
			}
		})
		if n > 0 {
			s.logger.InfoContext(ctx, "orphan evidence files removed", "files", n)
		}
		return err
	}
	return s
}

// NewTaskSweep runs task every interval with a Sweep's lifecycle, for
// housekeeping next to the vault's own sweeps, such as removing the dock
// spool's abandoned uploads. The interval defaults to 1 h.
func NewTaskSweep(name string, interval time.Duration, task func(context.Context) error, logger *slog.Logger) *Sweep {
	if interval <= 0 {
		interval = time.Hour
	}
	s := newSweep(name, interval, logger)
	s.task = task
	return s
}
