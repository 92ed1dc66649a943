package sqlstore_test

import (
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
)

// TestLiveEvidenceMigration applies migration 7 (live evidence: station
// and offload nullable, a source column) to a database holding a dock
// item that a case links to. SQLite rebuilds the table for it: the item
// keeps its station and offload and reads as source dock, the case link
// still resolves, a live item with neither is stored, and the schema
// still refuses a live item naming a station and an item of an unknown
// device (foreign keys are on again).
func TestLiveEvidenceMigration(t *testing.T) {
	sqltest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		seedAtVersion(t, dsn, 6, []seedStmt{
			{`INSERT INTO units (id, parent_id, code, name, level, path, version) VALUES ('p', NULL, 'P', 'P', 'province', '/p/', 1)`, nil},
			{`INSERT INTO devices (id, kind, serial, model, unit_id, status, firmware_version, rtsp_url, mmsi, secret_hash,
				last_seen_at, created_at, version) VALUES ('d1', 'recorder', 'SN-1', 'M', 'p', 'in_stock', '1', '', '', 'h', NULL, 0, 1)`, nil},
			{`INSERT INTO dock_stations (id, name, unit_id, secret_hash, disabled, created_at) VALUES ('dock_1', 'D', 'p', 'h', $1, 0)`, []any{false}},
			{`INSERT INTO evidence_offloads (id, station_id, device_id, unit_id, opened_at) VALUES ('off_1', 'dock_1', 'd1', 'p', 0)`, nil},
			{`INSERT INTO evidence_items (id, sha256, size_bytes, file_type, file_name, device_id, officer_id, unit_id, station_id,
				offload_id, start_at, end_at, duration_ms, lat, lon, ingested_at, category, case_number, case_closed_at, retain_until,
				legal_hold, hold_reason, deleted_at, deleted_by, delete_reason, version)
				VALUES ('evd_1', 'aa', 1234, 'mp4', 'a.mp4', 'd1', NULL, 'p', 'dock_1', 'off_1', 1000, NULL, 0, NULL, NULL, 2000,
				'case', 'C-1', NULL, NULL, $1, '', NULL, '', '', 1)`, []any{false}},
			{`INSERT INTO enforcement_cases (id, number, title, unit_id, status, opened_at, closed_at, created_by, created_at, version)
				VALUES ('case_1', 'C-1', 'T', 'p', 'open', 0, NULL, 'u', 0, 1)`, nil},
			{`INSERT INTO case_links (case_id, item_id, node_id, linked_by, linked_at) VALUES ('case_1', 'evd_1', '', 'u', 0)`, nil},
		})

		s := sqltest.Open(t, dsn) // applies the rest
		var dock fleet.EvidenceItem
		var links []fleet.LinkedItem
		if err := s.ViewCases(ctx, func(tx fleet.CaseTx) (err error) {
			if dock, err = tx.EvidenceItem(ctx, "evd_1"); err != nil {
				return err
			}
			links, err = tx.CaseLinks(ctx, "case_1")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if dock.Source != fleet.EvidenceDock || dock.StationID != "dock_1" || dock.OffloadID != "off_1" || dock.SizeBytes != 1234 ||
			dock.CaseNumber != "C-1" || dock.StartAt.UnixMilli() != 1000 {
			t.Errorf("dock item after the migration = %+v", dock)
		}
		if len(links) != 1 || links[0].Item.ID != "evd_1" {
			t.Errorf("case links after the migration = %+v", links)
		}

		at := time.UnixMilli(5000).UTC()
		live := fleet.EvidenceItem{ID: "evd_2", SHA256: "bb", SizeBytes: 10, FileType: fleet.FileMP4, FileName: "live.mp4",
			DeviceID: "d1", UnitID: "p", Source: fleet.EvidenceLive, StartAt: at, EndAt: &at, IngestedAt: at,
			Category: fleet.CategoryNoIncident, Version: 1}
		if err := s.UpdateEvidence(ctx, func(tx fleet.EvidenceTx) error { return tx.CreateEvidenceItem(ctx, live) }); err != nil {
			t.Fatalf("create live item: %v", err)
		}
		var got fleet.EvidenceItem
		if err := s.ViewEvidence(ctx, func(tx fleet.EvidenceTx) (err error) {
			got, err = tx.EvidenceItem(ctx, "evd_2")
			return err
		}); err != nil || got.Source != fleet.EvidenceLive || got.StationID != "" || got.OffloadID != "" {
			t.Errorf("live item = %+v, %v", got, err)
		}
		for name, it := range map[string]fleet.EvidenceItem{
			"live with a station": func() fleet.EvidenceItem {
				it := live
				it.ID, it.SHA256, it.StationID, it.OffloadID = "evd_3", "cc", "dock_1", "off_1"
				return it
			}(),
			"dock without one": func() fleet.EvidenceItem {
				it := live
				it.ID, it.SHA256, it.Source = "evd_4", "dd", fleet.EvidenceDock
				return it
			}(),
			"unknown device": func() fleet.EvidenceItem {
				it := live
				it.ID, it.SHA256, it.DeviceID = "evd_5", "ee", "d_nope"
				return it
			}(),
		} {
			if err := s.UpdateEvidence(ctx, func(tx fleet.EvidenceTx) error { return tx.CreateEvidenceItem(ctx, it) }); err == nil {
				t.Errorf("%s: stored", name)
			}
		}
	})
}
