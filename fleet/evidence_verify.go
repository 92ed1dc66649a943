package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// FileProblem is a stored file that is not what its item says.
type FileProblem struct {
	ItemID string `json:"item_id"`
	SHA256 string `json:"sha256"`
	// Problem is "missing", "size" (the stored size differs) or
	// "altered" (the bytes no longer hash to the item's SHA-256).
	Problem string `json:"problem"`
	Detail  string `json:"detail,omitempty"`
}

// VerifyReport is what a walk of the custody chain and the stored files
// found. OK is true when there was nothing to report.
type VerifyReport struct {
	StartedAt      time.Time     `json:"started_at"`
	FinishedAt     time.Time     `json:"finished_at"`
	CustodyEntries int           `json:"custody_entries"`
	Items          int           `json:"items"`
	BytesHashed    int64         `json:"bytes_hashed"`
	ChainBreaks    []ChainBreak  `json:"chain_breaks"`
	FileProblems   []FileProblem `json:"file_problems"`
	OK             bool          `json:"ok"`
}

// VerifyOptions chooses what a verification covers.
type VerifyOptions struct {
	SkipChain bool `json:"skip_chain"`
	SkipFiles bool `json:"skip_files"`
}

// Verify checks the custody chain and re-hashes every live item's file,
// on actor's request (administrators and auditors). The run is logged in
// the audit log.
func (v *Vault) Verify(ctx context.Context, actor User, opts VerifyOptions) (VerifyReport, error) {
	// The chain is one over all units, so the check is too; a report
	// names item ids only, never content.
	if err := evidenceAllowed(actor, "verify", actor.Scope()); err != nil {
		return VerifyReport{}, err
	}
	rep, err := v.verify(ctx, opts)
	if err != nil {
		return rep, err
	}
	err = v.store.UpdateEvidence(ctx, func(tx EvidenceTx) error {
		return v.audit(ctx, tx, actor, "evidence.verify", "evidence", "", "", "",
			map[string]any{"ok": rep.OK, "custody_entries": rep.CustodyEntries, "items": rep.Items,
				"chain_breaks": len(rep.ChainBreaks), "file_problems": len(rep.FileProblems)})
	})
	return rep, err
}

func (v *Vault) verify(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	rep := VerifyReport{StartedAt: v.now().UTC(), ChainBreaks: []ChainBreak{}, FileProblems: []FileProblem{}}
	if !opts.SkipChain {
		c := newChainChecker()
		err := v.store.ViewEvidence(ctx, func(tx EvidenceTx) error {
			var after int64
			for {
				page, err := tx.Custody(ctx, "", after, 1000)
				if err != nil {
					return err
				}
				for _, e := range page {
					if e.Seq <= after {
						c.breaks = append(c.breaks, ChainBreak{Seq: e.Seq, ItemID: e.ItemID, Reason: "entries out of order"})
					}
					c.check(e)
					after = e.Seq
				}
				if len(page) < 1000 {
					return nil
				}
			}
		})
		if err != nil {
			return rep, fmt.Errorf("verify custody chain: %w", err)
		}
		rep.CustodyEntries, rep.ChainBreaks = c.n, append(rep.ChainBreaks, c.breaks...)
	}
	if !opts.SkipFiles {
		after := ""
		for {
			var page []EvidenceItem
			err := v.store.ViewEvidence(ctx, func(tx EvidenceTx) (err error) {
				page, err = tx.LiveEvidenceAfter(ctx, after, 200)
				return err
			})
			if err != nil {
				return rep, fmt.Errorf("verify files: %w", err)
			}
			for _, it := range page {
				n, p, err := v.checkFile(ctx, it)
				if err != nil {
					return rep, err
				}
				rep.Items++
				rep.BytesHashed += n
				if p != nil {
					rep.FileProblems = append(rep.FileProblems, *p)
				}
				after = it.ID
			}
			if len(page) < 200 {
				break
			}
		}
	}
	rep.FinishedAt = v.now().UTC()
	rep.OK = len(rep.ChainBreaks) == 0 && len(rep.FileProblems) == 0
	return rep, nil
}

// checkFile re-hashes one stored file. Only a cancelled ctx is an error;
// anything wrong with the file is a problem to report.
func (v *Vault) checkFile(ctx context.Context, it EvidenceItem) (int64, *FileProblem, error) {
	problem := func(kind, detail string) *FileProblem {
		return &FileProblem{ItemID: it.ID, SHA256: it.SHA256, Problem: kind, Detail: detail}
	}
	b, err := v.blobs.Open(ctx, it.SHA256)
	if ErrorCode(err) == ENOTFOUND {
		return 0, problem("missing", "no stored file"), nil
	} else if err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, problem("missing", err.Error()), nil
	}
	defer b.Close()
	if b.Size() != it.SizeBytes {
		return 0, problem("size", fmt.Sprintf("stored %d bytes, recorded %d", b.Size(), it.SizeBytes)), nil
	}
	h := sha256.New()
	n, err := io.CopyBuffer(h, ctxReader{ctx, b}, make([]byte, 1<<20))
	if err != nil {
		if ctx.Err() != nil {
			return n, nil, ctx.Err()
		}
		return n, problem("missing", "read: "+err.Error()), nil
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != it.SHA256 || n != it.SizeBytes {
		return n, problem("altered", "the stored bytes hash to "+got), nil
	}
	return n, nil, nil
}

// ctxReader stops a long read when ctx is done.
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

// Sweep runs a vault task on a schedule: the integrity sweep (re-hash
// every file, walk the chain) or the retention sweep. Construct it with
// NewIntegritySweep or NewRetentionSweep, then Run(ctx) until ctx ends
// or Close.
type Sweep struct {
	name     string
	interval time.Duration
	task     func(ctx context.Context) error
	logger   *slog.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewIntegritySweep re-verifies the vault every interval (default 24 h)
// and calls onProblem (may be nil) with every report that is not OK,
// after logging it at error level.
func NewIntegritySweep(v *Vault, interval time.Duration, onProblem func(VerifyReport), logger *slog.Logger) *Sweep {
	if interval <= 0 {
		interval = 24 * time.Hour
	}
	s := newSweep("integrity", interval, logger)
	s.task = func(ctx context.Context) error {
		rep, err := v.verify(ctx, VerifyOptions{})
		if err != nil {
			return err
		}
		if !rep.OK {
			s.logger.ErrorContext(ctx, "evidence integrity problems", "chain_breaks", len(rep.ChainBreaks),
				"file_problems", len(rep.FileProblems), "items", rep.Items)
			if onProblem != nil {
				onProblem(rep)
			}
		} else {
			s.logger.InfoContext(ctx, "evidence verified", "items", rep.Items, "custody_entries", rep.CustodyEntries,
				"bytes", rep.BytesHashed)
		}
		return nil
	}
	return s
}

// NewRetentionSweep applies retention every interval (default 1 h).
func NewRetentionSweep(v *Vault, interval time.Duration, logger *slog.Logger) *Sweep {
	if interval <= 0 {
		interval = time.Hour
	}
	s := newSweep("retention", interval, logger)
	s.task = func(ctx context.Context) error {
		ids, err := v.ApplyRetention(ctx)
		if len(ids) > 0 {
			s.logger.InfoContext(ctx, "evidence deleted by retention", "items", len(ids))
		}
		return err
	}
	return s
}

func newSweep(name string, interval time.Duration, logger *slog.Logger) *Sweep {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Sweep{name: name, interval: interval, done: make(chan struct{}),
		logger: logger.With("component", "evidence."+name)}
}

// Run runs the task at once and then every interval until ctx is done or
// Close is called. A failed run is logged and retried at the next tick.
func (s *Sweep) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	defer close(s.done)
	defer cancel()
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if err := s.task(ctx); err != nil && ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce runs the task once, for tests and operators' commands.
func (s *Sweep) RunOnce(ctx context.Context) error { return s.task(ctx) }

// Close stops Run and waits for it to return; it must be called only
// after Run was started.
func (s *Sweep) Close() error {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-s.done
	}
	return nil
}
