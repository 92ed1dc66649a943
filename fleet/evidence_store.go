package fleet

import (
	"context"
	"time"
)

// EvidenceStore is the storage of the evidence vault. It is separate from
// Store so that the register's interface stays as it is; the SQL adapter
// (fleet/sqlstore) implements both over one database, and an EvidenceTx is
// also a register Tx, so an item, its custody entry and its audit entry
// are written in one transaction.
type EvidenceStore interface {
	// UpdateEvidence runs fn in one read-write transaction; writers are
	// serialised as in Store.Update, which the custody chain relies on.
	UpdateEvidence(ctx context.Context, fn func(EvidenceTx) error) error
	// ViewEvidence runs fn in a read-only transaction.
	ViewEvidence(ctx context.Context, fn func(EvidenceTx) error) error
}

// EvidenceTx is a transaction over the register and the vault. Missing
// records are ENOTFOUND, unique-key clashes ECONFLICT.
type EvidenceTx interface {
	Tx

	DockStation(ctx context.Context, id string) (DockStation, error)
	DockStations(ctx context.Context, scope string, p Page) ([]DockStation, string, error)
	CreateDockStation(ctx context.Context, s DockStation) error

	Offload(ctx context.Context, id string) (Offload, error)
	CreateOffload(ctx context.Context, o Offload) error
	// SaveOffloadFile stores a file's progress, keyed by offload and
	// name; an existing row keeps its AnnouncedAt.
	SaveOffloadFile(ctx context.Context, f OffloadFile) error
	// RefreshOffloadTotals recounts an offload's files and bytes after
	// SaveOffloadFile and moves its last activity up to at.
	RefreshOffloadTotals(ctx context.Context, offloadID string, at time.Time) error
	// OffloadProgress lists offloads matching f, newest first, with
	// their totals; Status is left for the caller (OffloadProgress.StatusAt).
	OffloadProgress(ctx context.Context, f OffloadFilter) ([]OffloadProgress, string, error)
	// OffloadFiles lists an offload's files in the order they were
	// announced.
	OffloadFiles(ctx context.Context, offloadID string) ([]OffloadFile, error)

	EvidenceItem(ctx context.Context, id string) (EvidenceItem, error)
	// EvidenceItemBySHA256 finds the item holding a file, deleted or not
	// (the newest when several).
	EvidenceItemBySHA256(ctx context.Context, sum string) (EvidenceItem, error)
	EvidenceItems(ctx context.Context, f EvidenceFilter) ([]EvidenceItem, string, error)
	CreateEvidenceItem(ctx context.Context, it EvidenceItem) error
	// UpdateEvidenceItem saves the mutable fields (category, case,
	// retention, hold, deletion) if it is still at it.Version.
	UpdateEvidenceItem(ctx context.Context, it EvidenceItem) error
	// EvidenceDue lists live items, not held, whose retain_until is at or
	// before t, oldest first, at most limit.
	EvidenceDue(ctx context.Context, t time.Time, limit int) ([]EvidenceItem, error)
	// LiveEvidenceAfter lists items not deleted with id > after, by id.
	LiveEvidenceAfter(ctx context.Context, after string, limit int) ([]EvidenceItem, error)

	// LastCustody returns the newest entry; ENOTFOUND on an empty log.
	LastCustody(ctx context.Context) (CustodyEntry, error)
	// AppendCustody stores e (sealed by the caller) and sets e.Seq.
	AppendCustody(ctx context.Context, e *CustodyEntry) error
	// Custody lists entries with seq > afterSeq in seq order, at most
	// limit; itemID "" is every item.
	Custody(ctx context.Context, itemID string, afterSeq int64, limit int) ([]CustodyEntry, error)
}
