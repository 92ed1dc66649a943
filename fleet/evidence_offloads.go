package fleet

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Offload progress: what the dock page (采集站) shows of each docking:
// the files the station announced or began, how many bytes of each are
// in, which are confirmed in the vault and which were refused. The upload
// path records it as it goes, in the register's database rather than
// only in one process's spool, so that any fleetd answers the same and a
// refused file's reason stays visible after its bytes are gone.

// OffloadStatus is where an offload stands.
type OffloadStatus string

const (
	// OffloadOpen is an offload with no file announced or begun yet.
	OffloadOpen OffloadStatus = "open"
	// OffloadInProgress has files outstanding and bytes arriving.
	OffloadInProgress OffloadStatus = "in_progress"
	// OffloadComplete has every file confirmed in the vault.
	OffloadComplete OffloadStatus = "complete"
	// OffloadStalled has files outstanding and no byte for the stall
	// time: a station that lost power or its link, or a file refused
	// and not sent again.
	OffloadStalled OffloadStatus = "stalled"
)

func (s OffloadStatus) Valid() bool {
	switch s {
	case OffloadOpen, OffloadInProgress, OffloadComplete, OffloadStalled:
		return true
	}
	return false
}

// DefaultStallAfter is how long an offload with files outstanding may go
// without a byte before it counts as stalled.
const DefaultStallAfter = 10 * time.Minute

// MaxAnnouncedFiles bounds the files a station announces in one offload.
const MaxAnnouncedFiles = 5000

// OffloadFileState is where one file of an offload stands.
type OffloadFileState string

const (
	OffloadFileAnnounced OffloadFileState = "announced" // declared, no byte yet
	OffloadFileReceiving OffloadFileState = "receiving" // bytes arriving
	OffloadFileConfirmed OffloadFileState = "confirmed" // in the vault, hash checked
	// OffloadFileFailed was refused (a hash mismatch, say); the station
	// may send it again, which makes it receiving.
	OffloadFileFailed OffloadFileState = "failed"
)

func (s OffloadFileState) Valid() bool {
	switch s {
	case OffloadFileAnnounced, OffloadFileReceiving, OffloadFileConfirmed, OffloadFileFailed:
		return true
	}
	return false
}

// AnnouncedFile is a file a station declares when it opens an offload,
// before sending it, so that the progress has a total from the start.
type AnnouncedFile struct {
	Name      string `json:"name"`
	SizeBytes int64  `json:"size_bytes"`
	SHA256    string `json:"sha256"`
}

// OffloadFile is the progress of one file of an offload.
type OffloadFile struct {
	OffloadID     string           `json:"-"`
	Name          string           `json:"name"`
	SizeBytes     int64            `json:"size_bytes"` // as declared
	SHA256        string           `json:"sha256"`     // as declared
	ReceivedBytes int64            `json:"received_bytes"`
	State         OffloadFileState `json:"state"`
	// EvidenceID is the item the file became (or already was); shown
	// only to those who may read evidence.
	EvidenceID  string    `json:"evidence_id,omitempty"`
	ErrorCode   string    `json:"error_code,omitempty"` // of a failed file, e.g. hash_mismatch
	Error       string    `json:"error,omitempty"`
	AnnouncedAt time.Time `json:"announced_at"`
	UpdatedAt   time.Time `json:"updated_at"` // the last byte or change
}

// OffloadProgress is an offload with who docked what, and its totals.
type OffloadProgress struct {
	Offload
	StationName  string `json:"station_name"`
	DeviceSerial string `json:"device_serial"`
	// OfficerID is the officer who last had the recorder checked out
	// when it docked; "" when nobody ever had.
	OfficerID      string        `json:"officer_id,omitempty"`
	OfficerName    string        `json:"officer_name,omitempty"`
	LastActivityAt time.Time     `json:"last_activity_at"`
	Status         OffloadStatus `json:"status"`
	FilesAnnounced int           `json:"files_announced"` // announced or begun
	FilesReceived  int           `json:"files_received"`  // every byte in
	FilesConfirmed int           `json:"files_confirmed"`
	FilesFailed    int           `json:"files_failed"`
	BytesReceived  int64         `json:"bytes_received"`
	BytesDeclared  int64         `json:"bytes_declared"`
}

// OffloadDetail is an offload with each file's progress.
type OffloadDetail struct {
	OffloadProgress
	Files []OffloadFile `json:"files"`
}

// StatusAt is the offload's status when activity before stalledBefore
// is too old. The store's status filter mirrors this rule.
func (p OffloadProgress) StatusAt(stalledBefore time.Time) OffloadStatus {
	switch {
	case p.FilesAnnounced == 0:
		return OffloadOpen
	case p.FilesConfirmed >= p.FilesAnnounced:
		return OffloadComplete
	case p.LastActivityAt.Before(stalledBefore):
		return OffloadStalled
	}
	return OffloadInProgress
}

// OffloadFilter selects offloads, newest first.
type OffloadFilter struct {
	Scope     string // set by the vault: offloads of devices in this subtree
	ID        string
	UnitID    string // the unit and its subtree; the vault turns it into Scope
	StationID string
	DeviceID  string
	Since     *time.Time // opened at or after
	Status    OffloadStatus
	// StallAfter is how long without a byte makes an offload stalled;
	// 0 is DefaultStallAfter. The vault turns it into StalledBefore.
	StallAfter    time.Duration
	StalledBefore time.Time
	Page
}

// CheckAnnouncedFiles validates the files a station announces and
// returns them with their hashes in lower case.
func CheckAnnouncedFiles(files []AnnouncedFile) ([]AnnouncedFile, error) {
	if len(files) > MaxAnnouncedFiles {
		return nil, Invalid("files", "at most %d files in one offload", MaxAnnouncedFiles)
	}
	seen := make(map[string]bool, len(files))
	out := make([]AnnouncedFile, 0, len(files))
	for i, f := range files {
		field := fmt.Sprintf("files[%d]", i)
		if _, err := CheckFileName(f.Name); err != nil {
			return nil, Invalid(field+".name", "%s", ErrorMessage(err))
		}
		if seen[f.Name] {
			return nil, Invalid(field+".name", "file %s is listed twice", f.Name)
		}
		seen[f.Name] = true
		if f.SizeBytes <= 0 {
			return nil, Invalid(field+".size_bytes", "file %s is empty; zero-length files are not evidence", f.Name)
		}
		sum, err := CheckSHA256(field+".sha256", f.SHA256)
		if err != nil {
			return nil, err
		}
		out = append(out, AnnouncedFile{Name: f.Name, SizeBytes: f.SizeBytes, SHA256: sum})
	}
	return out, nil
}

// stationOffloadIn loads an offload of st inside tx; another station's
// is not found.
func stationOffloadIn(ctx context.Context, tx EvidenceTx, st DockStation, id string) (Offload, error) {
	o, err := tx.Offload(ctx, id)
	if err == nil && o.StationID != st.ID {
		return o, Errorf(ENOTFOUND, "offload not found")
	}
	return o, err
}

// AnnounceFiles records the files st declared for offloadID. A file the
// vault already holds is confirmed at once: the station need not send it.
func (v *Vault) AnnounceFiles(ctx context.Context, st DockStation, offloadID string, files []AnnouncedFile) error {
	files, err := CheckAnnouncedFiles(files)
	if err != nil || len(files) == 0 {
		return err
	}
	return v.store.UpdateEvidence(ctx, func(tx EvidenceTx) error {
		if _, err := stationOffloadIn(ctx, tx, st, offloadID); err != nil {
			return err
		}
		now := v.now().UTC()
		for _, a := range files {
			f := OffloadFile{OffloadID: offloadID, Name: a.Name, SizeBytes: a.SizeBytes, SHA256: a.SHA256,
				State: OffloadFileAnnounced, AnnouncedAt: now, UpdatedAt: now}
			it, err := tx.EvidenceItemBySHA256(ctx, a.SHA256)
			if err == nil && it.DeletedAt == nil && it.SizeBytes == a.SizeBytes {
				f.State, f.ReceivedBytes, f.EvidenceID = OffloadFileConfirmed, a.SizeBytes, it.ID
			} else if err != nil && ErrorCode(err) != ENOTFOUND {
				return err
			}
			if err := tx.SaveOffloadFile(ctx, f); err != nil {
				return err
			}
		}
		return tx.RefreshOffloadTotals(ctx, offloadID, now)
	})
}

// RecordOffloadFile saves what the upload path knows of one file of
// offloadID: its declared size and hash, the bytes in, and whether it was
// confirmed (with its item) or refused (with the error's code and text).
func (v *Vault) RecordOffloadFile(ctx context.Context, st DockStation, offloadID string, f OffloadFile) error {
	if _, err := CheckFileName(f.Name); err != nil {
		return err
	}
	if !f.State.Valid() {
		return Invalid("state", "state must be announced, receiving, confirmed or failed")
	}
	if f.SizeBytes <= 0 || f.ReceivedBytes < 0 || f.ReceivedBytes > f.SizeBytes {
		return Invalid("received_bytes", "%d of %d bytes is not a progress", f.ReceivedBytes, f.SizeBytes)
	}
	if f.State == OffloadFileConfirmed && f.EvidenceID == "" {
		return Invalid("evidence_id", "a confirmed file names its evidence item")
	}
	if f.State != OffloadFileFailed {
		f.ErrorCode, f.Error = "", ""
	}
	if f.State != OffloadFileConfirmed {
		f.EvidenceID = ""
	}
	return v.store.UpdateEvidence(ctx, func(tx EvidenceTx) error {
		if _, err := stationOffloadIn(ctx, tx, st, offloadID); err != nil {
			return err
		}
		now := v.now().UTC()
		f.OffloadID, f.AnnouncedAt, f.UpdatedAt = offloadID, now, now
		if err := tx.SaveOffloadFile(ctx, f); err != nil {
			return err
		}
		return tx.RefreshOffloadTotals(ctx, offloadID, now)
	})
}

// mayWatchOffloads: offload progress is for those who see evidence or
// manage equipment (the stations and the recorders that dock there).
func mayWatchOffloads(actor User) error {
	if slices.Contains(evidenceRoles["read"], actor.Role) || actor.Role.Can(PermManageDevices) {
		return nil
	}
	return Errorf(EFORBIDDEN, "role %s may not see dock offloads", actor.Role)
}

// Offloads lists the offloads of devices in actor's subtree matching f,
// newest first, each with its status.
func (v *Vault) Offloads(ctx context.Context, actor User, f OffloadFilter) (items []OffloadProgress, next string, err error) {
	if err := mayWatchOffloads(actor); err != nil {
		return nil, "", err
	}
	if f.Status != "" && !f.Status.Valid() {
		return nil, "", Invalid("status", "status must be open, in_progress, complete or stalled")
	}
	if f.StallAfter <= 0 {
		f.StallAfter = DefaultStallAfter
	}
	// Whole milliseconds, as the store keeps times, so that the store's
	// filter and StatusAt draw the line at the same instant.
	f.StalledBefore = v.now().Add(-f.StallAfter).Truncate(time.Millisecond)
	f.Scope = actor.Scope()
	err = v.store.ViewEvidence(ctx, func(tx EvidenceTx) error {
		if f.UnitID != "" {
			u, err := tx.Unit(ctx, f.UnitID)
			if ErrorCode(err) == ENOTFOUND || (err == nil && !PathContains(actor.Scope(), u.Path)) {
				return Invalid("unit_id", "unit %s does not exist in your subtree", f.UnitID)
			} else if err != nil {
				return err
			}
			f.Scope = u.Path
		}
		items, next, err = tx.OffloadProgress(ctx, f)
		return err
	})
	for i := range items {
		items[i].Status = items[i].StatusAt(f.StalledBefore)
	}
	return items, next, err
}

// Offload returns one offload of actor's subtree with each file's
// progress. Evidence ids are left out for those who may not read
// evidence.
func (v *Vault) Offload(ctx context.Context, actor User, id string, stallAfter time.Duration) (d OffloadDetail, err error) {
	if id == "" {
		return d, Errorf(ENOTFOUND, "offload not found")
	}
	page, _, err := v.Offloads(ctx, actor, OffloadFilter{ID: id, StallAfter: stallAfter, Page: Page{Limit: 1}})
	if err != nil {
		return d, err
	}
	if len(page) == 0 {
		return d, Errorf(ENOTFOUND, "offload not found")
	}
	d.OffloadProgress = page[0]
	err = v.store.ViewEvidence(ctx, func(tx EvidenceTx) error {
		d.Files, err = tx.OffloadFiles(ctx, id)
		return err
	})
	if !slices.Contains(evidenceRoles["read"], actor.Role) {
		for i := range d.Files {
			d.Files[i].EvidenceID = ""
		}
	}
	return d, err
}
