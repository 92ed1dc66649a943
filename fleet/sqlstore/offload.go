package sqlstore

import (
	"context"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

// Offload progress (migrations/*/00008_offload_progress.sql): a row per
// file of an offload and the offload's totals, kept in step by
// RefreshOffloadTotals in the same transaction as the file's row.

const offloadFileCols = `f.offload_id, f.name, f.size_bytes, f.sha256, f.received_bytes, f.state,
	f.evidence_id, f.error_code, f.error, f.announced_at, f.updated_at`

func scanOffloadFile(s rowScanner) (fleet.OffloadFile, error) {
	var f fleet.OffloadFile
	err := s.Scan(&f.OffloadID, &f.Name, &f.SizeBytes, &f.SHA256, &f.ReceivedBytes, &f.State,
		nullString{&f.EvidenceID}, &f.ErrorCode, &f.Error, msTime{&f.AnnouncedAt}, msTime{&f.UpdatedAt})
	return f, err
}

func (t *tx) SaveOffloadFile(ctx context.Context, f fleet.OffloadFile) error {
	_, err := t.exec(ctx, "save offload file",
		`INSERT INTO evidence_offload_files (offload_id, name, size_bytes, sha256, received_bytes, state,
			evidence_id, error_code, error, announced_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (offload_id, name) DO UPDATE SET size_bytes = excluded.size_bytes,
			sha256 = excluded.sha256, received_bytes = excluded.received_bytes, state = excluded.state,
			evidence_id = excluded.evidence_id, error_code = excluded.error_code, error = excluded.error,
			updated_at = excluded.updated_at`,
		[]any{f.OffloadID, f.Name, f.SizeBytes, f.SHA256, f.ReceivedBytes, f.State, nullIfEmpty(f.EvidenceID),
			f.ErrorCode, f.Error, ms(f.AnnouncedAt), ms(f.UpdatedAt)},
		ref{"offload_id", "offload", "evidence_offloads", f.OffloadID},
		ref{"evidence_id", "evidence item", "evidence_items", f.EvidenceID})
	return err
}

// RefreshOffloadTotals recounts from the offload's own rows (the primary
// key's prefix), so its cost is the offload's files, not the table's.
func (t *tx) RefreshOffloadTotals(ctx context.Context, offloadID string, at time.Time) error {
	n, err := t.exec(ctx, "refresh offload totals",
		`UPDATE evidence_offloads SET
			files_announced = (SELECT COUNT(*) FROM evidence_offload_files f WHERE f.offload_id = $1),
			files_received = (SELECT COUNT(*) FROM evidence_offload_files f
				WHERE f.offload_id = $1 AND f.received_bytes >= f.size_bytes),
			files_confirmed = (SELECT COUNT(*) FROM evidence_offload_files f
				WHERE f.offload_id = $1 AND f.state = $3),
			files_failed = (SELECT COUNT(*) FROM evidence_offload_files f
				WHERE f.offload_id = $1 AND f.state = $4),
			bytes_received = (SELECT COALESCE(SUM(f.received_bytes), 0) FROM evidence_offload_files f WHERE f.offload_id = $1),
			bytes_declared = (SELECT COALESCE(SUM(f.size_bytes), 0) FROM evidence_offload_files f WHERE f.offload_id = $1),
			last_activity_at = CASE WHEN last_activity_at IS NULL OR last_activity_at < $2 THEN $2 ELSE last_activity_at END
		WHERE id = $1`,
		[]any{offloadID, ms(at), fleet.OffloadFileConfirmed, fleet.OffloadFileFailed})
	if err != nil {
		return err
	}
	if n == 0 {
		return fleet.Errorf(fleet.ENOTFOUND, "offload not found")
	}
	return nil
}

// offloadProgressCols: the officer is the one whose assignment of the
// recorder began last at or before the docking (still holding it, or the
// last to hold it), found per row of the page only.
const offloadProgressCols = `o.id, o.station_id, o.device_id, o.unit_id, o.opened_at, s.name, d.serial,
	(SELECT a.officer_id FROM assignments a WHERE a.device_id = o.device_id AND a.start_at <= o.opened_at
		ORDER BY a.start_at DESC, a.id DESC LIMIT 1),
	(SELECT p.name FROM assignments a JOIN officers p ON p.id = a.officer_id
		WHERE a.device_id = o.device_id AND a.start_at <= o.opened_at
		ORDER BY a.start_at DESC, a.id DESC LIMIT 1),
	COALESCE(o.last_activity_at, o.opened_at), o.files_announced, o.files_received, o.files_confirmed,
	o.files_failed, o.bytes_received, o.bytes_declared`

func scanOffloadProgress(s rowScanner) (fleet.OffloadProgress, error) {
	var p fleet.OffloadProgress
	err := s.Scan(&p.ID, &p.StationID, &p.DeviceID, &p.UnitID, msTime{&p.OpenedAt}, &p.StationName, &p.DeviceSerial,
		nullString{&p.OfficerID}, nullString{&p.OfficerName}, msTime{&p.LastActivityAt}, &p.FilesAnnounced,
		&p.FilesReceived, &p.FilesConfirmed, &p.FilesFailed, &p.BytesReceived, &p.BytesDeclared)
	return p, err
}

// OffloadProgress is scoped by the device's unit at docking. Its status
// filter is fleet.OffloadProgress.StatusAt written in SQL.
func (t *tx) OffloadProgress(ctx context.Context, f fleet.OffloadFilter) ([]fleet.OffloadProgress, string, error) {
	var q filter
	if err := q.scope("u.path", f.Scope); err != nil {
		return nil, "", err
	}
	if f.ID != "" {
		q.where("o.id = " + q.arg(f.ID))
	}
	if f.StationID != "" {
		q.where("o.station_id = " + q.arg(f.StationID))
	}
	if f.DeviceID != "" {
		q.where("o.device_id = " + q.arg(f.DeviceID))
	}
	if f.Since != nil {
		q.where("o.opened_at >= " + q.arg(ms(*f.Since)))
	}
	outstanding := "o.files_announced > 0 AND o.files_confirmed < o.files_announced"
	switch f.Status {
	case "":
	case fleet.OffloadOpen:
		q.where("o.files_announced = 0")
	case fleet.OffloadComplete:
		q.where("o.files_announced > 0 AND o.files_confirmed >= o.files_announced")
	case fleet.OffloadInProgress:
		q.where(outstanding + " AND COALESCE(o.last_activity_at, o.opened_at) >= " + q.arg(ms(f.StalledBefore)))
	case fleet.OffloadStalled:
		q.where(outstanding + " AND COALESCE(o.last_activity_at, o.opened_at) < " + q.arg(ms(f.StalledBefore)))
	default:
		return nil, "", fleet.Invalid("status", "unknown offload status %q", f.Status)
	}
	if f.After != "" {
		q.where("o.id < " + q.arg(f.After))
	}
	limit := pageLimit(f.Page)
	query := q.sql("SELECT "+offloadProgressCols+` FROM evidence_offloads o
		JOIN units u ON u.id = o.unit_id
		JOIN dock_stations s ON s.id = o.station_id
		JOIN devices d ON d.id = o.device_id`, "o.id DESC", limit+1)
	return list(ctx, t, "list offloads", query, q.args, limit, scanOffloadProgress,
		func(p fleet.OffloadProgress) string { return p.ID })
}

func (t *tx) OffloadFiles(ctx context.Context, offloadID string) ([]fleet.OffloadFile, error) {
	return all(ctx, t, "list offload files",
		"SELECT "+offloadFileCols+` FROM evidence_offload_files f WHERE f.offload_id = $1
		ORDER BY f.announced_at, f.name`,
		[]any{offloadID}, scanOffloadFile)
}
