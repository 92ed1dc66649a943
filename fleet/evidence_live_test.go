package fleet_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/blobstore/disk"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
)

func liveBody(t *testing.T, n int) ([]byte, string) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	h := sha256.Sum256(b)
	return b, hex.EncodeToString(h[:])
}

// TestIngestLive files live-recorded segments as evidence on both SQL
// dialects: source live with no station, the officer who held the
// recorder when the segment started (nobody before the check-out, then
// the officer and their unit), custody beginning with an ingest by the
// commander who asked (or the system, for an SOS) with their reason, the
// stored bytes those that hash to the SHA-256, and bad input refused
// before anything is stored.
func TestIngestLive(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		reg := fleet.NewRegister(db, nil)
		// A register-wide administrator without signing in: the password
		// hash would cost seconds under -race.
		admin := fleet.User{ID: "usr_live_admin", Username: "live-admin", Role: fleet.RoleAdmin}
		prov, err := reg.CreateUnit(ctx, admin, fleet.UnitInput{Code: "LIVE", Name: "省总队", Level: fleet.LevelProvince})
		if err != nil {
			t.Fatal(err)
		}
		county, err := reg.CreateUnit(ctx, admin, fleet.UnitInput{Code: "LIVE-1", Name: "江岸大队", Level: fleet.LevelCounty, ParentID: prov.ID})
		if err != nil {
			t.Fatal(err)
		}
		off, err := reg.CreateOfficer(ctx, admin, fleet.OfficerInput{UnitID: county.ID, Name: "李明", BadgeNo: "420001",
			Frontline: new(true), DutyStatus: fleet.OnDuty, Certificate: fleet.Certificate{Number: "ZF420001",
				IssuedOn: fleet.NewDate(2024, 1, 1), ExpiresOn: fleet.NewDate(2029, 12, 31),
				AnnualReviewUntil: fleet.NewDate(2030, 12, 31), Status: fleet.CertValid}})
		if err != nil {
			t.Fatal(err)
		}
		dev, err := reg.CreateDevice(ctx, admin, fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "REC-LIVE", Model: "DSJ", UnitID: prov.ID})
		if err != nil {
			t.Fatal(err)
		}
		unassigned := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
		if _, err := reg.Checkout(ctx, admin, dev.ID, fleet.CheckoutInput{OfficerID: off.ID}); err != nil {
			t.Fatal(err)
		}
		blobs, err := disk.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		vault, err := fleet.NewVault(db, blobs, fleet.RetentionPolicy{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		commander := fleet.User{ID: "usr_cmd", Username: "cmd.ja", Role: fleet.RoleCommander}
		body, sum := liveBody(t, 64<<10)
		start := time.Now().Add(time.Second).Truncate(time.Millisecond)
		seg := fleet.LiveSegment{DeviceID: dev.ID, RecordingID: "rec_01", Seq: 1, StartAt: start,
			EndAt: start.Add(2500 * time.Millisecond), SHA256: sum, SizeBytes: int64(len(body)), Reason: "押解途中全程录像"}

		for _, tc := range []struct {
			name  string
			actor fleet.User
			edit  func(*fleet.LiveSegment)
			body  []byte
			code  string
			field string
		}{
			{"no reason", commander, func(s *fleet.LiveSegment) { s.Reason = " " }, body, fleet.EINVALID, "reason"},
			{"bad hash", commander, func(s *fleet.LiveSegment) { s.SHA256 = "abc" }, body, fleet.EINVALID, "sha256"},
			{"no actor", fleet.User{}, func(*fleet.LiveSegment) {}, body, fleet.EINVALID, "actor"},
			{"ends first", commander, func(s *fleet.LiveSegment) { s.EndAt = s.StartAt.Add(-time.Second) }, body, fleet.EINVALID, "end_at"},
			{"bad recording id", commander, func(s *fleet.LiveSegment) { s.RecordingID = "../x" }, body, fleet.EINVALID, "recording_id"},
			{"unknown device", commander, func(s *fleet.LiveSegment) { s.DeviceID = "dev_nope" }, body, fleet.ENOTFOUND, "device_id"},
			{"other bytes", commander, func(*fleet.LiveSegment) {}, append([]byte("x"), body[1:]...), fleet.ECONFLICT, "sha256"},
		} {
			s := seg
			tc.edit(&s)
			_, _, err := vault.IngestLive(ctx, tc.actor, s, bytes.NewReader(tc.body))
			var fe *fleet.Error
			if fleet.ErrorCode(err) != tc.code || !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("%s: %v, want %s on %s", tc.name, err, tc.code, tc.field)
			}
		}
		if items, _, err := vault.Search(ctx, admin, fleet.EvidenceFilter{DeviceID: dev.ID}); err != nil || len(items) != 0 {
			t.Fatalf("refused segments left items: %v %v", items, err)
		}

		it, created, err := vault.IngestLive(ctx, commander, seg, bytes.NewReader(body))
		if err != nil || !created {
			t.Fatalf("IngestLive: %v (created %v)", err, created)
		}
		if it.Source != fleet.EvidenceLive || it.StationID != "" || it.OffloadID != "" || it.DeviceID != dev.ID ||
			it.OfficerID != off.ID || it.UnitID != county.ID || it.FileType != fleet.FileMP4 || it.SHA256 != sum ||
			it.SizeBytes != int64(len(body)) || !it.StartAt.Equal(start) || it.EndAt == nil ||
			!it.EndAt.Equal(seg.EndAt) || it.DurationMS != 2500 || !strings.HasSuffix(it.FileName, "-rec_01-001.mp4") {
			t.Errorf("item = %+v", it)
		}
		again, created, err := vault.IngestLive(ctx, commander, seg, bytes.NewReader(body))
		if err != nil || created || again.ID != it.ID {
			t.Errorf("the same segment again: %+v created=%v %v, want the first item", again, created, err)
		}
		items, _, err := vault.Search(ctx, admin, fleet.EvidenceFilter{DeviceID: dev.ID})
		if err != nil || len(items) != 1 || items[0].Source != fleet.EvidenceLive || items[0].StationID != "" || items[0].OfficerID != off.ID {
			t.Fatalf("search = %+v, %v", items, err)
		}
		_, entries, err := vault.CustodyReport(ctx, admin, it.ID)
		if err != nil || len(entries) != 1 {
			t.Fatalf("custody = %+v, %v", entries, err)
		}
		if e := entries[0]; e.Action != fleet.CustodyIngest || e.ActorID != "usr_cmd" || e.Actor != "cmd.ja" ||
			e.Reason != "押解途中全程录像" || !strings.Contains(e.Detail, "source=live recording=rec_01 segment=1 sha256="+sum) {
			t.Errorf("custody entry = %+v", e)
		}
		_, b, err := vault.OpenContent(ctx, admin, it.ID, fleet.CustodyDownload, "审查", "")
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := io.ReadAll(b)
		b.Close()
		if !bytes.Equal(stored, body) {
			t.Errorf("stored %d bytes differ from the %d recorded", len(stored), len(body))
		}

		// An SOS recording's segment from before the check-out: the system
		// asked, nobody held the recorder, it is filed under its own unit.
		body2, sum2 := liveBody(t, 1000)
		sos := fleet.LiveSegment{DeviceID: dev.ID, RecordingID: "rec_02", Seq: 7, StartAt: unassigned,
			EndAt: unassigned.Add(time.Second), SHA256: sum2, SizeBytes: 1000, Reason: "SOS alert alr_1"}
		it2, _, err := vault.IngestLive(ctx, fleet.SystemActor(), sos, bytes.NewReader(body2))
		if err != nil {
			t.Fatal(err)
		}
		if it2.OfficerID != "" || it2.UnitID != prov.ID {
			t.Errorf("unassigned segment filed as %+v, want no officer and the device's unit", it2)
		}
		_, entries, err = vault.CustodyReport(ctx, admin, it2.ID)
		if err != nil || len(entries) != 1 || entries[0].Actor != "system" || entries[0].Reason != "SOS alert alr_1" {
			t.Errorf("SOS custody = %+v, %v", entries, err)
		}
		if rep, err := vault.Verify(ctx, admin, fleet.VerifyOptions{}); err != nil || !rep.OK {
			t.Errorf("verify after live ingest: %+v %v", rep, err)
		}
	})
}
