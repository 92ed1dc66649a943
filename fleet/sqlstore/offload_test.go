package sqlstore_test

import (
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
)

func updateEv(t *testing.T, s *sqlstore.DB, fn func(fleet.EvidenceTx) error) {
	t.Helper()
	if err := s.UpdateEvidence(t.Context(), fn); err != nil {
		t.Fatalf("update evidence: %v", err)
	}
}

func offloads(t *testing.T, s *sqlstore.DB, f fleet.OffloadFilter) ([]fleet.OffloadProgress, string) {
	t.Helper()
	var (
		items []fleet.OffloadProgress
		next  string
	)
	err := s.ViewEvidence(t.Context(), func(tx fleet.EvidenceTx) (err error) {
		items, next, err = tx.OffloadProgress(t.Context(), f)
		return err
	})
	if err != nil {
		t.Fatalf("offloads %+v: %v", f, err)
	}
	return items, next
}

func offloadID(p fleet.OffloadProgress) string { return p.ID }

// TestOffloadProgress covers the offload files, the totals kept beside
// each offload, and the list with its scope, filters, status filter and
// pages, on each database.
func TestOffloadProgress(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		ctx := t.Context()
		tr := seed(t, s)
		o1 := officer("o1", tr.c1)
		update(t, s, func(tx fleet.Tx) error {
			for _, d := range []fleet.Device{device("d1", tr.s1), device("d2", tr.c1x)} {
				if err := tx.CreateDevice(ctx, d); err != nil {
					return err
				}
			}
			if err := tx.CreateOfficer(ctx, o1); err != nil {
				return err
			}
			// d1 went to o1 and came back before docking: o1 is still
			// the officer of the offload, as the last to hold it.
			end := at(2, 17, 0)
			return tx.CreateAssignment(ctx, fleet.Assignment{ID: "a1", DeviceID: "d1", OfficerID: "o1", UnitID: tr.c1.ID,
				StartAt: at(2, 8, 0), EndAt: &end, StartBy: "u", EndBy: "u"})
		})
		updateEv(t, s, func(tx fleet.EvidenceTx) error {
			for _, st := range []fleet.DockStation{
				{ID: "dock_1", Name: "江岸采集站", UnitID: tr.c1.ID, SecretHash: "h1", CreatedAt: at(1, 8, 0)},
				{ID: "dock_2", Name: "c1x 采集站", UnitID: tr.c1x.ID, SecretHash: "h2", CreatedAt: at(1, 8, 0)},
			} {
				if err := tx.CreateDockStation(ctx, st); err != nil {
					return err
				}
			}
			for _, o := range []fleet.Offload{
				{ID: "off_1", StationID: "dock_1", DeviceID: "d1", UnitID: tr.s1.ID, OpenedAt: at(2, 18, 0)},
				{ID: "off_2", StationID: "dock_2", DeviceID: "d2", UnitID: tr.c1x.ID, OpenedAt: at(2, 19, 0)},
				{ID: "off_3", StationID: "dock_1", DeviceID: "d1", UnitID: tr.s1.ID, OpenedAt: at(3, 18, 0)},
			} {
				if err := tx.CreateOffload(ctx, o); err != nil {
					return err
				}
			}
			return nil
		})

		// Nothing announced yet: open, active since it opened.
		got, _ := offloads(t, s, fleet.OffloadFilter{ID: "off_1"})
		if len(got) != 1 || got[0].FilesAnnounced != 0 || !got[0].LastActivityAt.Equal(at(2, 18, 0)) ||
			got[0].StationName != "江岸采集站" || got[0].DeviceSerial != "SN-d1" || got[0].OfficerID != "o1" ||
			got[0].OfficerName != o1.Name || got[0].UnitID != tr.s1.ID {
			t.Fatalf("new offload = %+v", got)
		}

		// Two files announced, one half in.
		t1 := at(2, 18, 5)
		updateEv(t, s, func(tx fleet.EvidenceTx) error {
			for _, f := range []fleet.OffloadFile{
				{OffloadID: "off_1", Name: "a.mp4", SizeBytes: 1000, SHA256: "aa", State: fleet.OffloadFileAnnounced, AnnouncedAt: t1, UpdatedAt: t1},
				{OffloadID: "off_1", Name: "b.jpg", SizeBytes: 2000, SHA256: "bb", ReceivedBytes: 1000, State: fleet.OffloadFileReceiving, AnnouncedAt: t1, UpdatedAt: t1},
			} {
				if err := tx.SaveOffloadFile(ctx, f); err != nil {
					return err
				}
			}
			return tx.RefreshOffloadTotals(ctx, "off_1", t1)
		})
		got, _ = offloads(t, s, fleet.OffloadFilter{ID: "off_1"})
		p := got[0]
		if p.FilesAnnounced != 2 || p.FilesReceived != 0 || p.FilesConfirmed != 0 || p.BytesReceived != 1000 ||
			p.BytesDeclared != 3000 || !p.LastActivityAt.Equal(t1) {
			t.Fatalf("after announcing = %+v", p)
		}

		// a.mp4 confirmed as an item, b.jpg refused; a late refresh does
		// not move the last activity back.
		t2 := at(2, 18, 9)
		item := fleet.EvidenceItem{ID: "evd_1", SHA256: "aa", SizeBytes: 1000, FileType: fleet.FileMP4, FileName: "a.mp4",
			DeviceID: "d1", OfficerID: "o1", UnitID: tr.c1.ID, StationID: "dock_1", OffloadID: "off_1",
			StartAt: at(2, 9, 0), IngestedAt: t2, Category: fleet.CategoryNoIncident, Version: 1}
		updateEv(t, s, func(tx fleet.EvidenceTx) error {
			if err := tx.CreateEvidenceItem(ctx, item); err != nil {
				return err
			}
			if err := tx.SaveOffloadFile(ctx, fleet.OffloadFile{OffloadID: "off_1", Name: "a.mp4", SizeBytes: 1000, SHA256: "aa",
				ReceivedBytes: 1000, State: fleet.OffloadFileConfirmed, EvidenceID: "evd_1", AnnouncedAt: t2, UpdatedAt: t2}); err != nil {
				return err
			}
			if err := tx.SaveOffloadFile(ctx, fleet.OffloadFile{OffloadID: "off_1", Name: "b.jpg", SizeBytes: 2000, SHA256: "bb",
				ReceivedBytes: 2000, State: fleet.OffloadFileFailed, ErrorCode: "hash_mismatch", Error: "hashes to cc", AnnouncedAt: t2, UpdatedAt: t2}); err != nil {
				return err
			}
			if err := tx.RefreshOffloadTotals(ctx, "off_1", t2); err != nil {
				return err
			}
			return tx.RefreshOffloadTotals(ctx, "off_1", t1)
		})
		got, _ = offloads(t, s, fleet.OffloadFilter{ID: "off_1"})
		p = got[0]
		if p.FilesAnnounced != 2 || p.FilesReceived != 2 || p.FilesConfirmed != 1 || p.FilesFailed != 1 ||
			p.BytesReceived != 3000 || !p.LastActivityAt.Equal(t2) {
			t.Fatalf("after confirming and refusing = %+v", p)
		}
		var files []fleet.OffloadFile
		err := s.ViewEvidence(ctx, func(tx fleet.EvidenceTx) (err error) {
			files, err = tx.OffloadFiles(ctx, "off_1")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, files, []fleet.OffloadFile{
			{OffloadID: "off_1", Name: "a.mp4", SizeBytes: 1000, SHA256: "aa", ReceivedBytes: 1000, State: fleet.OffloadFileConfirmed,
				EvidenceID: "evd_1", AnnouncedAt: t1, UpdatedAt: t2},
			{OffloadID: "off_1", Name: "b.jpg", SizeBytes: 2000, SHA256: "bb", ReceivedBytes: 2000, State: fleet.OffloadFileFailed,
				ErrorCode: "hash_mismatch", Error: "hashes to cc", AnnouncedAt: t1, UpdatedAt: t2},
		})

		// The status filter draws the same line as StatusAt.
		for _, tc := range []struct {
			name   string
			f      fleet.OffloadFilter
			status fleet.OffloadStatus
			want   []string
		}{
			{"all, newest first", fleet.OffloadFilter{}, "", []string{"off_3", "off_2", "off_1"}},
			{"scope c1 (not c1x)", fleet.OffloadFilter{Scope: tr.c1.Path}, "", []string{"off_3", "off_1"}},
			{"scope c1x", fleet.OffloadFilter{Scope: tr.c1x.Path}, "", []string{"off_2"}},
			{"station", fleet.OffloadFilter{StationID: "dock_2"}, "", []string{"off_2"}},
			{"device", fleet.OffloadFilter{DeviceID: "d1"}, "", []string{"off_3", "off_1"}},
			{"since", fleet.OffloadFilter{Since: new(at(2, 19, 0))}, "", []string{"off_3", "off_2"}},
			{"open", fleet.OffloadFilter{Status: fleet.OffloadOpen}, fleet.OffloadOpen, []string{"off_3", "off_2"}},
			{"in progress", fleet.OffloadFilter{Status: fleet.OffloadInProgress, StalledBefore: t2}, fleet.OffloadInProgress, []string{"off_1"}},
			{"not yet stalled", fleet.OffloadFilter{Status: fleet.OffloadStalled, StalledBefore: t2}, fleet.OffloadStalled, []string{}},
			{"stalled", fleet.OffloadFilter{Status: fleet.OffloadStalled, StalledBefore: t2.Add(time.Millisecond)}, fleet.OffloadStalled, []string{"off_1"}},
			{"complete", fleet.OffloadFilter{Status: fleet.OffloadComplete}, fleet.OffloadComplete, []string{}},
		} {
			got, _ := offloads(t, s, tc.f)
			wantEqual(t, ids(got, offloadID), tc.want)
			for _, p := range got {
				if tc.status != "" && p.StatusAt(tc.f.StalledBefore) != tc.status {
					t.Errorf("%s: %s is %s by StatusAt", tc.name, p.ID, p.StatusAt(tc.f.StalledBefore))
				}
			}
		}

		// Pages, newest first.
		page, next := offloads(t, s, fleet.OffloadFilter{Page: fleet.Page{Limit: 2}})
		wantEqual(t, ids(page, offloadID), []string{"off_3", "off_2"})
		page, next = offloads(t, s, fleet.OffloadFilter{Page: fleet.Page{Limit: 2, After: next}})
		if wantEqual(t, ids(page, offloadID), []string{"off_1"}); next != "" {
			t.Errorf("last page has next %q", next)
		}

		// b.jpg sent again and confirmed: the offload is complete.
		updateEv(t, s, func(tx fleet.EvidenceTx) error {
			it := item
			it.ID, it.SHA256, it.FileName, it.SizeBytes, it.FileType = "evd_2", "bb", "b.jpg", 2000, fleet.FileJPG
			if err := tx.CreateEvidenceItem(ctx, it); err != nil {
				return err
			}
			if err := tx.SaveOffloadFile(ctx, fleet.OffloadFile{OffloadID: "off_1", Name: "b.jpg", SizeBytes: 2000, SHA256: "bb",
				ReceivedBytes: 2000, State: fleet.OffloadFileConfirmed, EvidenceID: "evd_2", AnnouncedAt: t2, UpdatedAt: t2}); err != nil {
				return err
			}
			return tx.RefreshOffloadTotals(ctx, "off_1", t2)
		})
		got, _ = offloads(t, s, fleet.OffloadFilter{Status: fleet.OffloadComplete})
		if wantEqual(t, ids(got, offloadID), []string{"off_1"}); got[0].FilesFailed != 0 || got[0].FilesConfirmed != 2 {
			t.Errorf("complete offload = %+v", got[0])
		}

		// Unknown offloads and items are refused by name.
		err = s.UpdateEvidence(ctx, func(tx fleet.EvidenceTx) error {
			return tx.SaveOffloadFile(ctx, fleet.OffloadFile{OffloadID: "off_nope", Name: "x.mp4", SizeBytes: 1, SHA256: "x",
				State: fleet.OffloadFileAnnounced, AnnouncedAt: t1, UpdatedAt: t1})
		})
		wantErr(t, err, fleet.EINVALID, "offload_id")
		err = s.UpdateEvidence(ctx, func(tx fleet.EvidenceTx) error {
			return tx.SaveOffloadFile(ctx, fleet.OffloadFile{OffloadID: "off_3", Name: "x.mp4", SizeBytes: 1, SHA256: "x",
				State: fleet.OffloadFileConfirmed, EvidenceID: "evd_nope", AnnouncedAt: t1, UpdatedAt: t1})
		})
		wantErr(t, err, fleet.EINVALID, "evidence_id")
		err = s.UpdateEvidence(ctx, func(tx fleet.EvidenceTx) error { return tx.RefreshOffloadTotals(ctx, "off_nope", t1) })
		wantErr(t, err, fleet.ENOTFOUND, "")
	})
}

// TestOffloadMigrationBackfills builds a register at the schema before
// 00008 with an offload whose file is already in the vault, then opens it
// with the store: the migration turns the stored item into the offload's
// confirmed file, so old offloads show complete.
func TestOffloadMigrationBackfills(t *testing.T) {
	sqltest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		opened, ingested := at(2, 18, 0).UnixMilli(), at(2, 18, 3).UnixMilli()
		seedAtVersion(t, dsn, 7, []seedStmt{
			{`INSERT INTO units (id, parent_id, code, name, level, path, version) VALUES ('p', NULL, 'P', 'P', 'province', '/p/', 1)`, nil},
			{`INSERT INTO devices (id, kind, serial, model, unit_id, status, firmware_version, rtsp_url, mmsi, secret_hash,
				last_seen_at, created_at, version) VALUES ('d1', 'recorder', 'SN-1', 'M', 'p', 'in_stock', '1', '', '', 'h', NULL, 0, 1)`, nil},
			{`INSERT INTO dock_stations (id, name, unit_id, secret_hash, disabled, created_at) VALUES ('dock_1', 'D', 'p', 'h', $1, 0)`, []any{false}},
			{`INSERT INTO evidence_offloads (id, station_id, device_id, unit_id, opened_at) VALUES ('off_1', 'dock_1', 'd1', 'p', $1)`, []any{opened}},
			{`INSERT INTO evidence_offloads (id, station_id, device_id, unit_id, opened_at) VALUES ('off_2', 'dock_1', 'd1', 'p', $1)`, []any{opened}},
			{`INSERT INTO evidence_items (id, sha256, size_bytes, file_type, file_name, device_id, officer_id, unit_id, station_id,
				offload_id, start_at, end_at, duration_ms, lat, lon, ingested_at, category, case_number, case_closed_at, retain_until,
				legal_hold, hold_reason, deleted_at, deleted_by, delete_reason, version)
				VALUES ('evd_1', 'aa', 1234, 'mp4', 'a.mp4', 'd1', NULL, 'p', 'dock_1', 'off_1', 0, NULL, 0, NULL, NULL, $1,
				'no_incident', '', NULL, NULL, $2, '', NULL, '', '', 1)`, []any{ingested, false}},
		})

		s := sqltest.Open(t, dsn)
		got, _ := offloads(t, s, fleet.OffloadFilter{})
		if len(got) != 2 {
			t.Fatalf("offloads after the migration: %+v", got)
		}
		if p := got[1]; p.ID != "off_1" || p.FilesAnnounced != 1 || p.FilesConfirmed != 1 || p.FilesReceived != 1 ||
			p.BytesReceived != 1234 || p.BytesDeclared != 1234 || p.LastActivityAt.UnixMilli() != ingested ||
			p.StatusAt(at(2, 18, 0)) != fleet.OffloadComplete {
			t.Errorf("backfilled offload = %+v", p)
		}
		if p := got[0]; p.ID != "off_2" || p.FilesAnnounced != 0 || p.LastActivityAt.UnixMilli() != opened {
			t.Errorf("offload with no files = %+v", p)
		}
		var files []fleet.OffloadFile
		if err := s.ViewEvidence(ctx, func(tx fleet.EvidenceTx) (err error) {
			files, err = tx.OffloadFiles(ctx, "off_1")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(files) != 1 || files[0].EvidenceID != "evd_1" || files[0].State != fleet.OffloadFileConfirmed || files[0].Name != "a.mp4" {
			t.Errorf("backfilled files = %+v", files)
		}
	})
}
