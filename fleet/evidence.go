package fleet

import (
	"context"
	"io"
	"path"
	"regexp"
	"strings"
	"time"
)

// Evidence: the footage that recorders offload at a dock station, kept as
// evidence (证据). Rules from DOMAIN.md "Records and evidence": a file is
// hashed at the dock and checked at every move, never altered, traceable
// (who recorded it with which device, when and where; who viewed,
// exported or deleted it, when and why), and deleted only by retention or
// by an authorised, logged decision; a legal hold stops any deletion.

// DockStation is a docking / collection station (采集站). It signs in with
// its id and a secret issued at registration, shown once and stored only
// as a hash, as devices do. It offloads only recorders of its unit's
// subtree.
type DockStation struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	UnitID     string    `json:"unit_id"`
	SecretHash string    `json:"-"`
	Disabled   bool      `json:"disabled"`
	CreatedAt  time.Time `json:"created_at"`
}

// DockStationInput registers a station.
type DockStationInput struct {
	Name   string `json:"name"`
	UnitID string `json:"unit_id"`
}

// NewDockStation is a just-registered station with its secret, shown
// this once.
type NewDockStation struct {
	DockStation
	Secret string `json:"secret"`
}

// Offload is one docking of a recorder at a station: the files that
// follow belong to it. Opening one counts as the device checking in.
type Offload struct {
	ID        string    `json:"id"`
	StationID string    `json:"station_id"`
	DeviceID  string    `json:"device_id"`
	UnitID    string    `json:"unit_id"` // the device's unit when docked
	OpenedAt  time.Time `json:"opened_at"`
}

// FileType is the kind of file a recorder produces.
type FileType string

const (
	FileMP4 FileType = "mp4" // video
	FileWAV FileType = "wav" // audio
	FileAAC FileType = "aac" // audio
	FileJPG FileType = "jpg" // photo
)

// FileTypeOf returns the type of a file name by its extension
// (case-insensitive; .jpeg is a jpg), or false.
func FileTypeOf(name string) (FileType, bool) {
	switch strings.ToLower(path.Ext(name)) {
	case ".mp4":
		return FileMP4, true
	case ".wav":
		return FileWAV, true
	case ".aac":
		return FileAAC, true
	case ".jpg", ".jpeg":
		return FileJPG, true
	}
	return "", false
}

// fileNamePattern is a recorder's file name: one path element, no
// leading dot, so that no name can climb out of a directory or hide.
var fileNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CheckFileName validates a file name as a station sends it and returns
// its type. Names with a path separator, "..", control characters or an
// extension other than mp4, wav, aac and jpg are refused.
func CheckFileName(name string) (FileType, error) {
	if name == "" {
		return "", Invalid("name", "the file name is empty")
	}
	if strings.Contains(name, "..") || !fileNamePattern.MatchString(name) {
		return "", Invalid("name", "file name %q must be one plain name of letters, digits, '.', '_' or '-' (at most 128), with no path", truncate(name, 64))
	}
	ft, ok := FileTypeOf(name)
	if !ok {
		return "", Invalid("name", "file %s is not mp4, wav, aac or jpg", name)
	}
	return ft, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Category decides how long an item is kept; see RetentionPolicy.
type Category string

const (
	// CategoryNoIncident is routine footage with nothing of note.
	CategoryNoIncident Category = "no_incident"
	// CategoryCase is footage linked to an enforcement case: kept until
	// the case closes plus the policy's years.
	CategoryCase Category = "case"
	// CategoryPermanent is footage used as evidence of obstruction, a
	// major incident or a complex case: kept permanently.
	CategoryPermanent Category = "permanent"
)

func (c Category) Valid() bool {
	switch c {
	case CategoryNoIncident, CategoryCase, CategoryPermanent:
		return true
	}
	return false
}

// EvidenceItem is one file in the vault with what makes it traceable.
// The file itself is in the BlobStore under its SHA-256 and never
// changes; the item's retention, hold and deletion fields change, each
// change logged in the custody log and the audit log. A deleted item
// stays as a record (its file is gone) so that its custody stays readable.
type EvidenceItem struct {
	ID        string   `json:"id"`
	SHA256    string   `json:"sha256"` // lower-case hex
	SizeBytes int64    `json:"size_bytes"`
	FileType  FileType `json:"file_type"`
	FileName  string   `json:"file_name"` // as on the recorder
	DeviceID  string   `json:"device_id"`
	// OfficerID is the officer the recorder was assigned to when the
	// recording started; "" when it was with nobody.
	OfficerID  string     `json:"officer_id,omitempty"`
	UnitID     string     `json:"unit_id"`
	StationID  string     `json:"station_id"`
	OffloadID  string     `json:"offload_id"`
	Source     string     `json:"source"` // EvidenceDock (with station and offload) or EvidenceLive (neither)
	StartAt    time.Time  `json:"start_at"`
	EndAt      *time.Time `json:"end_at,omitempty"`
	DurationMS int64      `json:"duration_ms"`
	Lat        *float64   `json:"lat,omitempty"`
	Lon        *float64   `json:"lon,omitempty"`
	IngestedAt time.Time  `json:"ingested_at"`

	Category     Category   `json:"category"`
	CaseNumber   string     `json:"case_number,omitempty"`
	CaseClosedAt *time.Time `json:"case_closed_at,omitempty"`
	// RetainUntil is when retention may delete the item; nil is never
	// (permanent, or a case still open).
	RetainUntil *time.Time `json:"retain_until,omitempty"`
	LegalHold   bool       `json:"legal_hold"`
	HoldReason  string     `json:"hold_reason,omitempty"`

	DeletedAt    *time.Time `json:"deleted_at,omitempty"`
	DeletedBy    string     `json:"deleted_by,omitempty"`
	DeleteReason string     `json:"delete_reason,omitempty"`
	Version      int        `json:"version"`
}

// FileMeta is what a station tells about a file besides its bytes.
type FileMeta struct {
	Name       string
	StartAt    time.Time
	EndAt      *time.Time
	DurationMS int64
	Lat, Lon   *float64
}

// EvidenceFilter selects items for search. Scope is set by the vault.
type EvidenceFilter struct {
	Scope      string
	UnitID     string // the unit and its subtree; the vault turns it into Scope
	OfficerID  string
	DeviceID   string
	CaseNumber string
	From, To   *time.Time // recordings starting in [From, To)
	Deleted    bool       // include deleted items
	Page
}

// CustodyAction is what was done to an item.
type CustodyAction string

const (
	CustodyIngest   CustodyAction = "ingest"
	CustodyView     CustodyAction = "view"
	CustodyDownload CustodyAction = "download"
	CustodyExport   CustodyAction = "export"
	CustodyHold     CustodyAction = "hold"
	CustodyRelease  CustodyAction = "release"
	CustodyClassify CustodyAction = "classify"
	CustodyDelete   CustodyAction = "delete"
)

// BlobStore keeps evidence files by their SHA-256 (lower-case hex):
// written once, never modified, read whole or by range. Implementations:
// fleet/blobstore/disk and fleet/blobstore/s3.
type BlobStore interface {
	// Put stores size bytes from r under sum, hashing as it writes, and
	// stores nothing (ECONFLICT "hash_mismatch") when the bytes do not hash
	// to sum or are not size long. Putting a sum already stored succeeds
	// without rewriting it: a file sent twice is stored once.
	Put(ctx context.Context, sum string, size int64, r io.Reader) error
	// Open returns the stored file for reading and seeking (ranges). A
	// missing sum is ENOTFOUND.
	Open(ctx context.Context, sum string) (Blob, error)
	// Stat returns the stored size; a missing sum is ENOTFOUND.
	Stat(ctx context.Context, sum string) (int64, error)
	// Delete removes a file; only retention and an authorised deletion
	// call it. Deleting a missing sum succeeds.
	Delete(ctx context.Context, sum string) error
}

// Blob is one stored file open for reading.
type Blob interface {
	io.ReadSeekCloser
	Size() int64
}

// FileAdopter is a BlobStore that can take over a whole file already on
// its own filesystem by renaming it into place, instead of reading and
// writing its bytes again (the disk store). The vault uses it for a file
// whose SHA-256 the caller took of the bytes as they were received and
// found equal to sum (the dock spool); see Vault.IngestFile.
type FileAdopter interface {
	// AdoptFile makes the file at path the stored file of sum. It refuses
	// (ECONFLICT "hash_mismatch", field size_bytes) a file that is not
	// size bytes long. On success path is gone: renamed into the store,
	// or removed when sum was stored already. Where a rename is not
	// possible (another filesystem) it copies and hashes as Put does.
	AdoptFile(ctx context.Context, sum string, size int64, path string) error
}

// BlobInfo describes one stored file, as a listing returns it.
type BlobInfo struct {
	SHA256    string
	SizeBytes int64
	// ModTime is when the file was stored (or last re-stored).
	ModTime time.Time
}

// BlobLister is a BlobStore that can list what it holds, so that files
// no item references (a crash between storing a file and recording its
// item, a deletion whose file removal failed) can be found and removed.
type BlobLister interface {
	// ListBlobs calls fn for every stored file, in no particular order,
	// and stops at fn's first error, returning it.
	ListBlobs(ctx context.Context, fn func(BlobInfo) error) error
}

// EHASHMISMATCH is the message prefix, inside an ECONFLICT error, of a
// file whose bytes do not hash to the SHA-256 it was sent with.
const EHASHMISMATCH = "hash_mismatch"

// HashMismatch reports whether err says the bytes did not match their
// declared hash.
func HashMismatch(err error) bool {
	return ErrorCode(err) == ECONFLICT && strings.HasPrefix(ErrorMessage(err), EHASHMISMATCH)
}

// ErrHashMismatch builds the error a BlobStore or the intake returns for
// bytes that do not hash to want.
func ErrHashMismatch(want, got string) *Error {
	return &Error{Code: ECONFLICT, Field: "sha256",
		Message: EHASHMISMATCH + ": the file hashes to " + got + ", not to the declared " + want}
}

var sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// CheckSHA256 validates a hex SHA-256 and returns it in lower case.
func CheckSHA256(field, s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if !sha256Pattern.MatchString(s) {
		return "", Invalid(field, "%s must be a SHA-256 in 64 hex digits", field)
	}
	return s, nil
}
