package fleet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"
)

// Vault is the evidence vault: dock stations, offloads, evidence items,
// the chain of custody, retention and legal holds. Every read of footage
// and every change goes through it so that custody and audit entries are
// never skipped, whichever transport asked.
type Vault struct {
	store  EvidenceStore
	blobs  BlobStore
	policy RetentionPolicy
	now    func() time.Time
	logger *slog.Logger
}

// NewVault returns the vault over store (metadata and custody) and blobs
// (the files). now is the clock (nil for time.Now).
func NewVault(store EvidenceStore, blobs BlobStore, policy RetentionPolicy, now func() time.Time, logger *slog.Logger) (*Vault, error) {
	p, err := policy.WithDefaults()
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Vault{store: store, blobs: blobs, policy: p, now: now,
		logger: logger.With("component", "evidence")}, nil
}

// Policy is the retention policy in force.
func (v *Vault) Policy() RetentionPolicy { return v.policy }

// Who may do what with evidence. Viewing or copying footage needs a role
// of legal/audit staff (法制审核) or an administrator; deleting outside
// retention is an administrator's written decision only.
var evidenceRoles = map[string][]Role{
	"read":     {RoleAdmin, RoleAuditor},
	"hold":     {RoleAdmin, RoleAuditor},
	"classify": {RoleAdmin, RoleAuditor},
	"verify":   {RoleAdmin, RoleAuditor},
	"delete":   {RoleAdmin},
	"stations": {RoleAdmin, RoleEquipmentManager},
}

func evidenceAllowed(actor User, op, path string) error {
	if !slices.Contains(evidenceRoles[op], actor.Role) {
		return Errorf(EFORBIDDEN, "role %s may not %s evidence", actor.Role, strings.ReplaceAll(op, "_", " "))
	}
	if !PathContains(actor.Scope(), path) {
		return Errorf(EFORBIDDEN, "outside your unit")
	}
	return nil
}

// system is the actor of the service's own decisions (retention).
var system = User{ID: "system", Username: "system"}

func stationActor(s DockStation) User {
	return User{ID: s.ID, Username: "dock:" + s.Name}
}

// --- dock stations ---

// RegisterDockStation registers a station at a unit of actor's subtree and
// issues its secret, shown once.
func (v *Vault) RegisterDockStation(ctx context.Context, actor User, in DockStationInput) (ns NewDockStation, err error) {
	name, err := checkText("name", in.Name, 64, true)
	if err != nil {
		return ns, err
	}
	err = v.store.UpdateEvidence(ctx, func(tx EvidenceTx) error {
		u, err := tx.Unit(ctx, strings.TrimSpace(in.UnitID))
		if ErrorCode(err) == ENOTFOUND || strings.TrimSpace(in.UnitID) == "" {
			return Invalid("unit_id", "unit %q does not exist", in.UnitID)
		} else if err != nil {
			return err
		}
		if err := evidenceAllowed(actor, "stations", u.Path); err != nil {
			return err
		}
		secret := newToken(32)
		st := DockStation{ID: NewID("dock"), Name: name, UnitID: u.ID, SecretHash: HashToken(secret),
			CreatedAt: v.now().UTC()}
		if err := tx.CreateDockStation(ctx, st); err != nil {
			return err
		}
		ns = NewDockStation{DockStation: st, Secret: secret}
		return v.audit(ctx, tx, actor, "dock_station.create", "dock_station", st.ID, st.UnitID, "", st)
	})
	return ns, err
}

// DockStations lists the stations of actor's subtree.
func (v *Vault) DockStations(ctx context.Context, actor User, p Page) (items []DockStation, next string, err error) {
	if !slices.Contains(evidenceRoles["stations"], actor.Role) && !slices.Contains(evidenceRoles["read"], actor.Role) {
		return nil, "", Errorf(EFORBIDDEN, "role %s may not list dock stations", actor.Role)
	}
	err = v.store.ViewEvidence(ctx, func(tx EvidenceTx) error {
		items, next, err = tx.DockStations(ctx, actor.Scope(), p)
		return err
	})
	return items, next, err
}

// AuthenticateStation checks a station's credentials.
func (v *Vault) AuthenticateStation(ctx context.Context, id, secret string) (st DockStation, err error) {
	err = v.store.ViewEvidence(ctx, func(tx EvidenceTx) error {
		st, err = tx.DockStation(ctx, id)
		if ErrorCode(err) == ENOTFOUND || (err == nil && (st.Disabled || !tokenMatches(secret, st.SecretHash))) {
			return Errorf(EUNAUTHORIZED, "unknown dock station or wrong secret")
		}
		return err
	})
	return st, err
}

// --- offloads ---

// OpenOffload starts the offload of a recorder docked at st, named by id
// or serial. The recorder must belong to the station's unit subtree.
// Docking counts as the device checking in.
func (v *Vault) OpenOffload(ctx context.Context, st DockStation, deviceID, serial string) (o Offload, err error) {
	deviceID, serial = strings.TrimSpace(deviceID), strings.TrimSpace(serial)
	if deviceID == "" && serial == "" {
		return o, Invalid("device_id", "name the docked device by device_id or serial")
	}
	err = v.store.UpdateEvidence(ctx, func(tx EvidenceTx) error {
		var d Device
		var err error
		field := "device_id"
		if deviceID != "" {
			d, err = tx.Device(ctx, deviceID)
		} else {
			field = "serial"
			d, err = tx.DeviceBySerial(ctx, serial)
		}
		if ErrorCode(err) == ENOTFOUND {
			return &Error{Code: ENOTFOUND, Field: field, Message: "no such device"}
		} else if err != nil {
			return err
		}
		stPath, devPath := pathOf(ctx, tx, st.UnitID), pathOf(ctx, tx, d.UnitID)
		if !PathContains(stPath, devPath) {
			return &Error{Code: EFORBIDDEN, Field: field, Message: "device " + d.Serial + " is not of this station's unit"}
		}
		now := v.now().UTC()
		o = Offload{ID: NewID("off"), StationID: st.ID, DeviceID: d.ID, UnitID: d.UnitID, OpenedAt: now}
		if err := tx.CreateOffload(ctx, o); err != nil {
			return err
		}
		if err := tx.RecordCheckin(ctx, d.ID, now); err != nil {
			return err
		}
		return v.audit(ctx, tx, stationActor(st), "offload.open", "offload", o.ID, o.UnitID, "", o)
	})
	return o, err
}

// StationOffload returns an offload of st; another station's is not found.
func (v *Vault) StationOffload(ctx context.Context, st DockStation, id string) (o Offload, err error) {
	err = v.store.ViewEvidence(ctx, func(tx EvidenceTx) error {
		o, err = tx.Offload(ctx, id)
		if err == nil && o.StationID != st.ID {
			return Errorf(ENOTFOUND, "offload not found")
		}
		return err
	})
	return o, err
}

// Ingest stores a file of an offload: the bytes go to the blob store,
// which hashes them again and refuses them unless they hash to sum; only
// then is the item recorded, with the officer who held the recorder when
// the recording started, and its custody begins. A file already in the
// vault is not stored again: Ingest returns its item and created=false.
func (v *Vault) Ingest(ctx context.Context, st DockStation, offloadID string, meta FileMeta, sum string, size int64, body io.Reader) (it EvidenceItem, created bool, err error) {
	return v.ingest(ctx, st, offloadID, meta, sum, size, func(sum string) error {
		return v.blobs.Put(ctx, sum, size, body)
	})
}

// IngestFile is Ingest for a complete file at path on local disk whose
// bytes the caller hashed as it received them and found to hash to sum
// (the dock spool keeps the SHA-256 state as bytes arrive, across
// resumes). With a blob store that can adopt files (FileAdopter, the
// disk store) the file is renamed into the store, so its bytes are
// written once and hashed once; the store checks its length. With other
// stores it is read and Put, which hashes it again on the way, and stays
// where it is. Either way the caller removes whatever is left at path
// afterwards (the dock spool's Discard).
func (v *Vault) IngestFile(ctx context.Context, st DockStation, offloadID string, meta FileMeta, sum string, size int64, path string) (it EvidenceItem, created bool, err error) {
	return v.ingest(ctx, st, offloadID, meta, sum, size, func(sum string) error {
		if a, ok := v.blobs.(FileAdopter); ok {
			return a.AdoptFile(ctx, sum, size, path)
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if fi, err := f.Stat(); err != nil {
			return err
		} else if fi.Size() != size {
			return &Error{Code: ECONFLICT, Field: "size_bytes",
				Message: fmt.Sprintf("%s: the file is %d bytes, declared %d", EHASHMISMATCH, fi.Size(), size)}
		}
		return v.blobs.Put(ctx, sum, size, f)
	})
}

// ingest checks a file's description, stores its bytes with put and
// records the item.
func (v *Vault) ingest(ctx context.Context, st DockStation, offloadID string, meta FileMeta, sum string, size int64, put func(sum string) error) (it EvidenceItem, created bool, err error) {
	ft, err := CheckFileName(meta.Name)
	if err != nil {
		return it, false, err
	}
	if sum, err = CheckSHA256("sha256", sum); err != nil {
		return it, false, err
	}
	if size <= 0 {
		return it, false, Invalid("size_bytes", "the file is empty")
	}
	if meta.StartAt.IsZero() {
		return it, false, Invalid("start_at", "the recording's start time is required")
	}
	if meta.EndAt != nil && meta.EndAt.Before(meta.StartAt) {
		return it, false, Invalid("end_at", "the recording ends before it starts")
	}
	if meta.DurationMS < 0 {
		return it, false, Invalid("duration_ms", "duration_ms is negative")
	}
	if (meta.Lat == nil) != (meta.Lon == nil) ||
		(meta.Lat != nil && (*meta.Lat < -90 || *meta.Lat > 90 || *meta.Lon < -180 || *meta.Lon > 180)) {
		return it, false, Invalid("position", "position must be lat,lon in WGS-84 degrees")
	}
	o, err := v.StationOffload(ctx, st, offloadID)
	if err != nil {
		return it, false, err
	}
	if prev, ok, err := v.liveBySHA(ctx, sum); err != nil {
		return it, false, err
	} else if ok {
		return prev, false, nil
	}
	if err := put(sum); err != nil {
		return it, false, fmt.Errorf("store evidence file %s: %w", meta.Name, err)
	}
	err = v.store.UpdateEvidence(ctx, func(tx EvidenceTx) error {
		// A second station may have sent the same file meanwhile.
		if prev, err := tx.EvidenceItemBySHA256(ctx, sum); err == nil && prev.DeletedAt == nil {
			it = prev
			return nil
		} else if err != nil && ErrorCode(err) != ENOTFOUND {
			return err
		}
		// The file must still be there: the orphan sweep removes an
		// unreferenced old file inside a writing transaction too, so
		// either it saw this item or this sees the file gone.
		if _, err := v.blobs.Stat(ctx, sum); ErrorCode(err) == ENOTFOUND {
			return Errorf(EUNAVAILABLE, "the stored file %s was removed as an orphan meanwhile; send it again", meta.Name)
		} else if err != nil {
			return err
		}
		d, err := tx.Device(ctx, o.DeviceID)
		if err != nil {
			return err
		}
		officer, unit, err := holderAt(ctx, tx, d, meta.StartAt)
		if err != nil {
			return err
		}
		now := v.now().UTC()
		it = EvidenceItem{ID: NewID("evd"), SHA256: sum, SizeBytes: size, FileType: ft, FileName: meta.Name,
			DeviceID: d.ID, OfficerID: officer, UnitID: unit, Source: EvidenceDock, StationID: st.ID, OffloadID: o.ID,
			StartAt: meta.StartAt.UTC(), EndAt: utcPtr(meta.EndAt), DurationMS: meta.DurationMS,
			Lat: meta.Lat, Lon: meta.Lon, IngestedAt: now, Category: CategoryNoIncident, Version: 1}
		it.RetainUntil = v.policy.RetainUntil(it)
		if err := tx.CreateEvidenceItem(ctx, it); err != nil {
			return err
		}
		created = true
		if err := tx.RecordCheckin(ctx, d.ID, now); err != nil {
			return err
		}
		if err := v.custody(ctx, tx, stationActor(st), it.ID, CustodyIngest, "",
			fmt.Sprintf("sha256=%s size_bytes=%d offload=%s", sum, size, o.ID)); err != nil {
			return err
		}
		return v.audit(ctx, tx, stationActor(st), "evidence.ingest", "evidence", it.ID, it.UnitID, "", it)
	})
	return it, created, err
}

// StoredFile returns the live item holding the file of sum, so that a
// station can learn that a file it sent is safe although the answer was
// lost; ENOTFOUND when there is none.
func (v *Vault) StoredFile(ctx context.Context, sum string) (EvidenceItem, error) {
	it, ok, err := v.liveBySHA(ctx, sum)
	if err == nil && !ok {
		err = Errorf(ENOTFOUND, "no such file in the vault")
	}
	return it, err
}

func (v *Vault) liveBySHA(ctx context.Context, sum string) (it EvidenceItem, ok bool, err error) {
	err = v.store.ViewEvidence(ctx, func(tx EvidenceTx) error {
		it, err = tx.EvidenceItemBySHA256(ctx, sum)
		return err
	})
	if ErrorCode(err) == ENOTFOUND {
		return it, false, nil
	}
	return it, err == nil && it.DeletedAt == nil, err
}

// holderAt finds the officer a device was assigned to at t, and the unit
// the recording is filed under: the officer's unit at check-out, or the
// device's own unit when it was with nobody.
func holderAt(ctx context.Context, tx Tx, d Device, t time.Time) (officer, unit string, err error) {
	f := AssignmentFilter{DeviceID: d.ID, Page: Page{Limit: 500}}
	for {
		as, next, err := tx.Assignments(ctx, f)
		if err != nil {
			return "", "", err
		}
		for _, a := range as {
			if a.ActiveAt(t) {
				return a.OfficerID, a.UnitID, nil
			}
		}
		if next == "" {
			return "", d.UnitID, nil
		}
		f.After = next
	}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// --- reading ---

// itemIn loads an item of actor's subtree that actor may op on.
func (v *Vault) itemIn(ctx context.Context, tx EvidenceTx, actor User, op, id string) (EvidenceItem, error) {
	it, err := tx.EvidenceItem(ctx, id)
	if err != nil {
		return it, err
	}
	path := pathOf(ctx, tx, it.UnitID)
	if err := inScope(actor, path, "evidence item"); err != nil {
		return it, err
	}
	return it, evidenceAllowed(actor, op, path)
}

// Search lists items of actor's subtree matching f, by id (ingest order).
// A search shows metadata only and is not a view of the footage, so it
// leaves no custody entry.
func (v *Vault) Search(ctx context.Context, actor User, f EvidenceFilter) (items []EvidenceItem, next string, err error) {
	if err := evidenceAllowed(actor, "read", actor.Scope()); err != nil {
		return nil, "", err
	}
	f.Scope = actor.Scope()
	err = v.store.ViewEvidence(ctx, func(tx EvidenceTx) error {
		if f.UnitID != "" {
			u, err := tx.Unit(ctx, f.UnitID)
			if ErrorCode(err) == ENOTFOUND || (err == nil && !PathContains(actor.Scope(), u.Path)) {
				return Invalid("unit", "unit %s does not exist in your subtree", f.UnitID)
			} else if err != nil {
				return err
			}
			f.Scope = u.Path
		}
		items, next, err = tx.EvidenceItems(ctx, f)
		return err
	})
	return items, next, err
}

// Item returns one item and logs the view in its custody.
func (v *Vault) Item(ctx context.Context, actor User, id, reason string) (it EvidenceItem, err error) {
	if reason, err = checkText("reason", reason, 500, false); err != nil {
		return it, err
	}
	err = v.store.UpdateEvidence(ctx, func(tx EvidenceTx) error {
		if it, err = v.itemIn(ctx, tx, actor, "read", id); err != nil {
			return err
		}
		return v.custody(ctx, tx, actor, it.ID, CustodyView, reason, "")
	})
	return it, err
}

// OpenContent opens an item's original file for download (or playback or
// export, as action says) and logs it in custody, with the reason, before
// a byte is served. The caller closes the Blob.
func (v *Vault) OpenContent(ctx context.Context, actor User, id string, action CustodyAction, reason, detail string) (it EvidenceItem, b Blob, err error) {
	if action != CustodyDownload && action != CustodyExport {
		return it, nil, Invalid("action", "action must be download or export")
	}
	if reason, err = checkText("reason", reason, 500, true); err != nil {
		return it, nil, err
	}
	if detail, err = checkText("detail", detail, 200, false); err != nil {
		return it, nil, err
	}
	err = v.store.UpdateEvidence(ctx, func(tx EvidenceTx) error {
		if it, err = v.itemIn(ctx, tx, actor, "read", id); err != nil {
			return err
		}
		if it.DeletedAt != nil {
			return Errorf(ECONFLICT, "evidence item %s was deleted on %s", it.ID, it.DeletedAt.Format(time.DateOnly))
		}
		if err := v.custody(ctx, tx, actor, it.ID, action, reason, detail); err != nil {
			return err
		}
		return v.audit(ctx, tx, actor, "evidence."+string(action), "evidence", it.ID, it.UnitID, reason, nil)
	})
	if err != nil {
		return it, nil, err
	}
	b, err = v.blobs.Open(ctx, it.SHA256)
	if err != nil {
		return it, nil, fmt.Errorf("open evidence file %s: %w", it.ID, err)
	}
	if b.Size() != it.SizeBytes {
		b.Close()
		return it, nil, fmt.Errorf("evidence file %s is %d bytes, not %d: run the verifier", it.ID, b.Size(), it.SizeBytes)
	}
	return it, b, nil
}

// CustodyReport returns an item's custody entries, oldest first.
func (v *Vault) CustodyReport(ctx context.Context, actor User, id string) (it EvidenceItem, entries []CustodyEntry, err error) {
	err = v.store.ViewEvidence(ctx, func(tx EvidenceTx) error {
		if it, err = v.itemIn(ctx, tx, actor, "read", id); err != nil {
			return err
		}
		var after int64
		for {
			page, err := tx.Custody(ctx, id, after, 1000)
			if err != nil {
				return err
			}
			entries = append(entries, page...)
			if len(page) < 1000 {
				return nil
			}
			after = page[len(page)-1].Seq
		}
	})
	return it, entries, err
}

// --- changes ---

// ClassifyInput sets an item's retention category and case.
type ClassifyInput struct {
	Category     Category   `json:"category"`
	CaseNumber   string     `json:"case_number"`
	CaseClosedAt *time.Time `json:"case_closed_at"`
	Reason       string     `json:"reason"`
}

// Classify changes an item's category and case link, and so its
// retention date.
func (v *Vault) Classify(ctx context.Context, actor User, id string, in ClassifyInput) (it EvidenceItem, err error) {
	if !in.Category.Valid() {
		return it, Invalid("category", "category must be no_incident, case or permanent")
	}
	caseNo, err := checkText("case_number", in.CaseNumber, 64, in.Category == CategoryCase)
	if err != nil {
		return it, err
	}
	if in.Category != CategoryCase && in.CaseClosedAt != nil {
		return it, Invalid("case_closed_at", "only case footage has a case closing date")
	}
	reason, err := checkText("reason", in.Reason, 500, true)
	if err != nil {
		return it, err
	}
	err = v.store.UpdateEvidence(ctx, func(tx EvidenceTx) error {
		before, err := v.itemIn(ctx, tx, actor, "classify", id)
		if err != nil {
			return err
		}
		if before.DeletedAt != nil {
			return Errorf(ECONFLICT, "evidence item %s is deleted", id)
		}
		it = before
		it.Category, it.CaseNumber, it.CaseClosedAt = in.Category, caseNo, utcPtr(in.CaseClosedAt)
		it.RetainUntil = v.policy.RetainUntil(it)
		return v.save(ctx, tx, actor, before, &it, CustodyClassify, reason,
			fmt.Sprintf("category=%s case=%s", it.Category, it.CaseNumber))
	})
	return it, err
}

// Hold puts an item under legal hold: no deletion, by retention or by
// anyone, until it is released.
func (v *Vault) Hold(ctx context.Context, actor User, id, reason string) (EvidenceItem, error) {
	return v.setHold(ctx, actor, id, reason, true)
}

// Release lifts a legal hold.
func (v *Vault) Release(ctx context.Context, actor User, id, reason string) (EvidenceItem, error) {
	return v.setHold(ctx, actor, id, reason, false)
}

func (v *Vault) setHold(ctx context.Context, actor User, id, reason string, hold bool) (it EvidenceItem, err error) {
	if reason, err = checkText("reason", reason, 500, true); err != nil {
		return it, err
	}
	err = v.store.UpdateEvidence(ctx, func(tx EvidenceTx) error {
		before, err := v.itemIn(ctx, tx, actor, "hold", id)
		if err != nil {
			return err
		}
		switch {
		case before.DeletedAt != nil:
			return Errorf(ECONFLICT, "evidence item %s is deleted", id)
		case hold && before.LegalHold:
			return Errorf(ECONFLICT, "evidence item %s is already under legal hold", id)
		case !hold && !before.LegalHold:
			return Errorf(ECONFLICT, "evidence item %s is not under legal hold", id)
		}
		it = before
		it.LegalHold, it.HoldReason = hold, ""
		action := CustodyRelease
		if hold {
			it.HoldReason, action = reason, CustodyHold
		}
		return v.save(ctx, tx, actor, before, &it, action, reason, "")
	})
	return it, err
}

// Delete removes an item's file on an administrator's written decision.
// It is refused under legal hold and for footage of a case still open;
// the item's record and custody stay.
func (v *Vault) Delete(ctx context.Context, actor User, id, reason string) (it EvidenceItem, err error) {
	if reason, err = checkText("reason", reason, 500, true); err != nil {
		return it, err
	}
	err = v.store.UpdateEvidence(ctx, func(tx EvidenceTx) error {
		before, err := v.itemIn(ctx, tx, actor, "delete", id)
		if err != nil {
			return err
		}
		switch {
		case before.DeletedAt != nil:
			return Errorf(ECONFLICT, "evidence item %s is already deleted", id)
		case before.LegalHold:
			return Errorf(ECONFLICT, "evidence item %s is under legal hold (%s); release the hold first", id, before.HoldReason)
		case before.Category == CategoryCase && before.CaseClosedAt == nil:
			return Errorf(ECONFLICT, "evidence item %s belongs to open case %s", id, before.CaseNumber)
		}
		it = v.tombstone(before, actor, reason)
		return v.save(ctx, tx, actor, before, &it, CustodyDelete, reason, "by decision")
	})
	if err != nil {
		return it, err
	}
	v.dropFile(ctx, it)
	return it, nil
}

func (v *Vault) tombstone(it EvidenceItem, actor User, reason string) EvidenceItem {
	now := v.now().UTC()
	it.DeletedAt, it.DeletedBy, it.DeleteReason = &now, actor.ID, reason
	return it
}

// dropFile deletes a deleted item's file. It runs after the deletion is
// committed: a failure leaves an orphan file that a later sweep removes,
// never a live record without its file.
func (v *Vault) dropFile(ctx context.Context, it EvidenceItem) {
	if err := v.blobs.Delete(ctx, it.SHA256); err != nil {
		v.logger.ErrorContext(ctx, "delete evidence file", "item", it.ID, "sha256", it.SHA256, "err", err)
	}
}

// ApplyRetention deletes every item whose retention ended by now and is
// not held, and returns their ids. Each deletion is logged in custody and
// audit as the system's, with the rule that applied.
func (v *Vault) ApplyRetention(ctx context.Context) (deleted []string, err error) {
	for {
		var due []EvidenceItem
		now := v.now().UTC()
		err := v.store.ViewEvidence(ctx, func(tx EvidenceTx) error {
			due, err = tx.EvidenceDue(ctx, now, 100)
			return err
		})
		if err != nil {
			return deleted, err
		}
		progressed := false
		for _, cand := range due {
			var it EvidenceItem
			err := v.store.UpdateEvidence(ctx, func(tx EvidenceTx) error {
				before, err := tx.EvidenceItem(ctx, cand.ID)
				if err != nil {
					return err
				}
				// Checked again from the rules, not only the stored date:
				// a hold or a reclassification may have come in between.
				if !v.policy.Due(before, now) {
					return nil
				}
				reason := fmt.Sprintf("retention: %s footage kept until %s", before.Category,
					v.policy.RetainUntil(before).Format(time.RFC3339))
				it = v.tombstone(before, system, reason)
				return v.save(ctx, tx, system, before, &it, CustodyDelete, reason, "by retention")
			})
			if err != nil {
				return deleted, err
			}
			if it.ID != "" {
				v.dropFile(ctx, it)
				deleted = append(deleted, it.ID)
				progressed = true
			}
		}
		if len(due) < 100 || !progressed {
			return deleted, nil
		}
	}
}

// save writes a changed item with its custody and audit entries.
func (v *Vault) save(ctx context.Context, tx EvidenceTx, actor User, before EvidenceItem, it *EvidenceItem, action CustodyAction, reason, detail string) error {
	if err := tx.UpdateEvidenceItem(ctx, *it); err != nil {
		return err
	}
	it.Version++
	if err := v.custody(ctx, tx, actor, it.ID, action, reason, detail); err != nil {
		return err
	}
	return v.auditChange(ctx, tx, actor, "evidence."+string(action), it.ID, it.UnitID, reason, before, *it)
}

// custody appends one entry to the chain. Writers are serialised by the
// store, so the newest entry read here is still the newest at commit.
func (v *Vault) custody(ctx context.Context, tx EvidenceTx, actor User, itemID string, action CustodyAction, reason, detail string) error {
	prev := GenesisHash
	last, err := tx.LastCustody(ctx)
	if err == nil {
		prev = last.EntryHash
	} else if ErrorCode(err) != ENOTFOUND {
		return err
	}
	e := CustodyEntry{ItemID: itemID, At: v.now(), Action: action, ActorID: actor.ID, Actor: actor.Username,
		Reason: reason, Detail: detail}
	e.seal(prev)
	return tx.AppendCustody(ctx, &e)
}

func (v *Vault) audit(ctx context.Context, tx EvidenceTx, actor User, action, entity, id, unitID, reason string, after any) error {
	return tx.AppendAudit(ctx, &AuditEntry{At: v.now().UTC(), ActorID: actor.ID, Actor: actor.Username,
		Action: action, Entity: entity, EntityID: id, UnitID: unitID, After: asJSON(after), Reason: reason})
}

func (v *Vault) auditChange(ctx context.Context, tx EvidenceTx, actor User, action, id, unitID, reason string, before, after any) error {
	return tx.AppendAudit(ctx, &AuditEntry{At: v.now().UTC(), ActorID: actor.ID, Actor: actor.Username,
		Action: action, Entity: "evidence", EntityID: id, UnitID: unitID, Before: asJSON(before),
		After: asJSON(after), Reason: reason})
}
