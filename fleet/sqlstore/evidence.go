package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

// The evidence vault's tables (migrations/*/00003_evidence.sql). The same
// tx type serves fleet.Tx and fleet.EvidenceTx, so an evidence change, its
// custody entry and its audit entry commit together.

var (
	_ fleet.EvidenceStore = (*DB)(nil)
	_ fleet.EvidenceTx    = (*tx)(nil)
)

// UpdateEvidence is Update for the vault: writers are serialised, which
// keeps the custody chain linear.
func (db *DB) UpdateEvidence(ctx context.Context, fn func(fleet.EvidenceTx) error) error {
	return db.Update(ctx, func(t fleet.Tx) error { return fn(t.(*tx)) })
}

// ViewEvidence is View for the vault.
func (db *DB) ViewEvidence(ctx context.Context, fn func(fleet.EvidenceTx) error) error {
	return db.View(ctx, func(t fleet.Tx) error { return fn(t.(*tx)) })
}

// --- dock stations ---

const dockCols = `s.id, s.name, s.unit_id, s.secret_hash, s.disabled, s.created_at`

func scanDock(s rowScanner) (fleet.DockStation, error) {
	var d fleet.DockStation
	err := s.Scan(&d.ID, &d.Name, &d.UnitID, &d.SecretHash, &d.Disabled, msTime{&d.CreatedAt})
	return d, err
}

func (t *tx) DockStation(ctx context.Context, id string) (fleet.DockStation, error) {
	d, err := scanDock(t.tx.QueryRowContext(ctx, "SELECT "+dockCols+" FROM dock_stations s WHERE s.id = $1", id))
	if err != nil {
		return d, t.notFound(ctx, err, "dock station", "get dock station")
	}
	return d, nil
}

func (t *tx) DockStations(ctx context.Context, scope string, p fleet.Page) ([]fleet.DockStation, string, error) {
	var q filter
	if err := q.scope("u.path", scope); err != nil {
		return nil, "", err
	}
	if p.After != "" {
		q.where("s.id > " + q.arg(p.After))
	}
	limit := pageLimit(p)
	query := q.sql("SELECT "+dockCols+" FROM dock_stations s JOIN units u ON u.id = s.unit_id", "s.id", limit+1)
	return list(ctx, t, "list dock stations", query, q.args, limit, scanDock,
		func(d fleet.DockStation) string { return d.ID })
}

func (t *tx) CreateDockStation(ctx context.Context, s fleet.DockStation) error {
	_, err := t.exec(ctx, "create dock station",
		`INSERT INTO dock_stations (id, name, unit_id, secret_hash, disabled, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		[]any{s.ID, s.Name, s.UnitID, s.SecretHash, s.Disabled, ms(s.CreatedAt)},
		ref{"unit_id", "unit", "units", s.UnitID})
	return err
}

// --- offloads ---

func (t *tx) Offload(ctx context.Context, id string) (fleet.Offload, error) {
	var o fleet.Offload
	err := t.tx.QueryRowContext(ctx,
		`SELECT id, station_id, device_id, unit_id, opened_at FROM evidence_offloads WHERE id = $1`, id).
		Scan(&o.ID, &o.StationID, &o.DeviceID, &o.UnitID, msTime{&o.OpenedAt})
	if err != nil {
		return o, t.notFound(ctx, err, "offload", "get offload")
	}
	return o, nil
}

func (t *tx) CreateOffload(ctx context.Context, o fleet.Offload) error {
	_, err := t.exec(ctx, "create offload",
		`INSERT INTO evidence_offloads (id, station_id, device_id, unit_id, opened_at)
		VALUES ($1, $2, $3, $4, $5)`,
		[]any{o.ID, o.StationID, o.DeviceID, o.UnitID, ms(o.OpenedAt)},
		ref{"station_id", "dock station", "dock_stations", o.StationID},
		ref{"device_id", "device", "devices", o.DeviceID},
		ref{"unit_id", "unit", "units", o.UnitID})
	return err
}

// --- items ---

const itemCols = `e.id, e.sha256, e.size_bytes, e.file_type, e.file_name, e.device_id, e.officer_id,
	e.unit_id, e.station_id, e.offload_id, e.start_at, e.end_at, e.duration_ms, e.lat, e.lon,
	e.ingested_at, e.category, e.case_number, e.case_closed_at, e.retain_until, e.legal_hold,
	e.hold_reason, e.deleted_at, e.deleted_by, e.delete_reason, e.version, e.source`

func scanItem(s rowScanner) (fleet.EvidenceItem, error) {
	var (
		it       fleet.EvidenceItem
		lat, lon sql.NullFloat64
	)
	err := s.Scan(&it.ID, &it.SHA256, &it.SizeBytes, &it.FileType, &it.FileName, &it.DeviceID,
		nullString{&it.OfficerID}, &it.UnitID, nullString{&it.StationID}, nullString{&it.OffloadID}, msTime{&it.StartAt},
		msTimePtr{&it.EndAt}, &it.DurationMS, &lat, &lon, msTime{&it.IngestedAt}, &it.Category,
		&it.CaseNumber, msTimePtr{&it.CaseClosedAt}, msTimePtr{&it.RetainUntil}, &it.LegalHold,
		&it.HoldReason, msTimePtr{&it.DeletedAt}, &it.DeletedBy, &it.DeleteReason, &it.Version, &it.Source)
	if lat.Valid && lon.Valid {
		it.Lat, it.Lon = &lat.Float64, &lon.Float64
	}
	return it, err
}

func floatPtr(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func (t *tx) EvidenceItem(ctx context.Context, id string) (fleet.EvidenceItem, error) {
	it, err := scanItem(t.tx.QueryRowContext(ctx, "SELECT "+itemCols+" FROM evidence_items e WHERE e.id = $1", id))
	if err != nil {
		return it, t.notFound(ctx, err, "evidence item", "get evidence item")
	}
	return it, nil
}

// EvidenceItemBySHA256 prefers the live item, then the newest deleted one.
func (t *tx) EvidenceItemBySHA256(ctx context.Context, sum string) (fleet.EvidenceItem, error) {
	it, err := scanItem(t.tx.QueryRowContext(ctx, "SELECT "+itemCols+` FROM evidence_items e
		WHERE e.sha256 = $1 ORDER BY CASE WHEN e.deleted_at IS NULL THEN 0 ELSE 1 END, e.id DESC LIMIT 1`, sum))
	if err != nil {
		return it, t.notFound(ctx, err, "evidence item", "get evidence item by hash")
	}
	return it, nil
}

// EvidenceItems are scoped by the unit the item is filed under.
func (t *tx) EvidenceItems(ctx context.Context, f fleet.EvidenceFilter) ([]fleet.EvidenceItem, string, error) {
	var q filter
	if err := q.scope("u.path", f.Scope); err != nil {
		return nil, "", err
	}
	if f.OfficerID != "" {
		q.where("e.officer_id = " + q.arg(f.OfficerID))
	}
	if f.DeviceID != "" {
		q.where("e.device_id = " + q.arg(f.DeviceID))
	}
	if f.CaseNumber != "" {
		q.where("e.case_number = " + q.arg(f.CaseNumber))
	}
	if f.From != nil {
		q.where("e.start_at >= " + q.arg(ms(*f.From)))
	}
	if f.To != nil {
		q.where("e.start_at < " + q.arg(ms(*f.To)))
	}
	if !f.Deleted {
		q.where("e.deleted_at IS NULL")
	}
	if f.After != "" {
		q.where("e.id > " + q.arg(f.After))
	}
	limit := pageLimit(f.Page)
	query := q.sql("SELECT "+itemCols+" FROM evidence_items e JOIN units u ON u.id = e.unit_id", "e.id", limit+1)
	return list(ctx, t, "search evidence", query, q.args, limit, scanItem,
		func(it fleet.EvidenceItem) string { return it.ID })
}

func (t *tx) CreateEvidenceItem(ctx context.Context, it fleet.EvidenceItem) error {
	_, err := t.exec(ctx, "create evidence item",
		`INSERT INTO evidence_items (id, sha256, size_bytes, file_type, file_name, device_id, officer_id,
			unit_id, station_id, offload_id, start_at, end_at, duration_ms, lat, lon, ingested_at,
			category, case_number, case_closed_at, retain_until, legal_hold, hold_reason,
			deleted_at, deleted_by, delete_reason, version, source)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
			$19, $20, $21, $22, $23, $24, $25, 1, $26)`,
		[]any{it.ID, it.SHA256, it.SizeBytes, it.FileType, it.FileName, it.DeviceID, nullIfEmpty(it.OfficerID),
			it.UnitID, nullIfEmpty(it.StationID), nullIfEmpty(it.OffloadID), ms(it.StartAt), msPtr(it.EndAt), it.DurationMS,
			floatPtr(it.Lat), floatPtr(it.Lon), ms(it.IngestedAt), it.Category, it.CaseNumber,
			msPtr(it.CaseClosedAt), msPtr(it.RetainUntil), it.LegalHold, it.HoldReason,
			msPtr(it.DeletedAt), it.DeletedBy, it.DeleteReason, evidenceSource(it)},
		ref{"device_id", "device", "devices", it.DeviceID},
		ref{"officer_id", "officer", "officers", it.OfficerID},
		ref{"unit_id", "unit", "units", it.UnitID},
		ref{"station_id", "dock station", "dock_stations", it.StationID},
		ref{"offload_id", "offload", "evidence_offloads", it.OffloadID})
	return err
}

// evidenceSource is the item's source column; items from before sources
// were named come from dock stations.
func evidenceSource(it fleet.EvidenceItem) string {
	if it.Source == "" {
		return fleet.EvidenceDock
	}
	return it.Source
}

// UpdateEvidenceItem saves only what may change after ingest; what was
// recorded at the dock (hash, size, device, officer, times) is never
// written again.
func (t *tx) UpdateEvidenceItem(ctx context.Context, it fleet.EvidenceItem) error {
	n, err := t.exec(ctx, "update evidence item",
		`UPDATE evidence_items SET category = $3, case_number = $4, case_closed_at = $5,
			retain_until = $6, legal_hold = $7, hold_reason = $8, deleted_at = $9, deleted_by = $10,
			delete_reason = $11, version = version + 1
		WHERE id = $1 AND version = $2`,
		[]any{it.ID, it.Version, it.Category, it.CaseNumber, msPtr(it.CaseClosedAt), msPtr(it.RetainUntil),
			it.LegalHold, it.HoldReason, msPtr(it.DeletedAt), it.DeletedBy, it.DeleteReason})
	if err != nil {
		return err
	}
	return t.versioned(ctx, n, "evidence_items", "evidence item", it.ID)
}

func (t *tx) EvidenceDue(ctx context.Context, at time.Time, limit int) ([]fleet.EvidenceItem, error) {
	return all(ctx, t, "list evidence due",
		"SELECT "+itemCols+` FROM evidence_items e
		WHERE e.deleted_at IS NULL AND e.retain_until IS NOT NULL AND e.retain_until <= $1
			AND e.legal_hold = $2
		ORDER BY e.retain_until, e.id LIMIT $3`,
		[]any{ms(at), false, limit}, scanItem)
}

func (t *tx) LiveEvidenceAfter(ctx context.Context, after string, limit int) ([]fleet.EvidenceItem, error) {
	return all(ctx, t, "list live evidence",
		"SELECT "+itemCols+` FROM evidence_items e WHERE e.deleted_at IS NULL AND e.id > $1
		ORDER BY e.id LIMIT $2`,
		[]any{after, limit}, scanItem)
}

// --- custody ---

const custodyCols = `seq, item_id, at, action, actor_id, actor, reason, detail, prev_hash, entry_hash`

func scanCustody(s rowScanner) (fleet.CustodyEntry, error) {
	var e fleet.CustodyEntry
	err := s.Scan(&e.Seq, &e.ItemID, msTime{&e.At}, &e.Action, &e.ActorID, &e.Actor, &e.Reason, &e.Detail,
		&e.PrevHash, &e.EntryHash)
	return e, err
}

func (t *tx) LastCustody(ctx context.Context) (fleet.CustodyEntry, error) {
	e, err := scanCustody(t.tx.QueryRowContext(ctx,
		"SELECT "+custodyCols+" FROM evidence_custody ORDER BY seq DESC LIMIT 1"))
	if err != nil {
		return e, t.notFound(ctx, err, "custody entry", "last custody entry")
	}
	return e, nil
}

func (t *tx) AppendCustody(ctx context.Context, e *fleet.CustodyEntry) error {
	err := t.tx.QueryRowContext(ctx,
		`INSERT INTO evidence_custody (item_id, at, action, actor_id, actor, reason, detail, prev_hash, entry_hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING seq`,
		e.ItemID, ms(e.At), e.Action, e.ActorID, e.Actor, e.Reason, e.Detail, e.PrevHash, e.EntryHash).Scan(&e.Seq)
	if err != nil {
		return t.fail(ctx, err, "append custody entry")
	}
	return nil
}

func (t *tx) Custody(ctx context.Context, itemID string, afterSeq int64, limit int) ([]fleet.CustodyEntry, error) {
	if itemID == "" {
		return all(ctx, t, "list custody",
			"SELECT "+custodyCols+" FROM evidence_custody WHERE seq > $1 ORDER BY seq LIMIT $2",
			[]any{afterSeq, limit}, scanCustody)
	}
	return all(ctx, t, "list custody of "+strconv.Quote(itemID),
		"SELECT "+custodyCols+" FROM evidence_custody WHERE item_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
		[]any{itemID, afterSeq, limit}, scanCustody)
}
