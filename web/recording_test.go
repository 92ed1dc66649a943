package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/blobstore/disk"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
	"github.com/lawfleet/fleet/ingest/dockspool"
	"github.com/lawfleet/fleet/ingest/video"
	"github.com/lawfleet/fleet/internal/testenv"
)

// TestLiveRecordingIntoEvidence records a recorder's live stream through
// the API with the real relay, a real ffmpeg push and the real vault: a
// commander of the device's county starts a recording with a reason,
// stops it after a few 2-second segments, and every segment is then an
// evidence item of the device (source live, filed under the officer who
// holds it) whose stored bytes hash as the item says and decode as the
// pushed H.264, with custody beginning with an ingest by that commander
// for that reason; the audit log says who started and stopped it. A
// commander of another county, a manager, a missing reason and a bad
// max_minutes are refused.
func TestLiveRecordingIntoEvidence(t *testing.T) {
	ffmpeg, ffprobe := testenv.FFmpeg(t)
	db := sqltest.SQLite(t)
	dir := t.TempDir()
	blobs, err := disk.New(filepath.Join(dir, "evidence"))
	if err != nil {
		t.Fatal(err)
	}
	spool, err := dockspool.New(filepath.Join(dir, "spool"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// The relay stamps segments with the wall clock: the vault and the
	// register run on it too, so that the check-out precedes them.
	vault, err := fleet.NewVault(db, blobs, fleet.RetentionPolicy{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, db, func(d *Deps) { d.Evidence = EvidenceDeps{Vault: vault, Spool: spool} })
	e.clock.Advance(time.Now().Add(-time.Minute).Sub(e.clock.Now()))
	admin := e.login(t, "admin", adminPassword)
	o := e.seedOrg(t, admin)
	var rec fleet.NewDevice
	admin.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "ZFY-REC",
		UnitID: o.stationA.ID}, http.StatusCreated, &rec)
	var officer fleet.Officer
	admin.mustDo(t, http.MethodPost, "/api/v1/officers", officerIn(o.stationA.ID, "王强", "420188"), http.StatusCreated, &officer)
	admin.mustDo(t, http.MethodPost, "/api/v1/devices/"+rec.ID+"/checkout", fleet.CheckoutInput{OfficerID: officer.ID}, http.StatusCreated, nil)
	commander := e.user(t, admin, "cmd.ja", fleet.RoleCommander, o.countyA.ID)
	other := e.user(t, admin, "cmd.hs", fleet.RoleCommander, o.countyB.ID)
	manager := e.user(t, admin, "mgr.ja", fleet.RoleEquipmentManager, o.countyA.ID)
	auditor := e.user(t, admin, "aud.hb", fleet.RoleAuditor, o.province.ID)
	path := "/api/v1/devices/" + rec.ID + "/live/recording"

	// Not mounted yet: the route exists and says so.
	commander.mustDo(t, http.MethodGet, path, nil, http.StatusServiceUnavailable, nil)

	relay, err := video.New(video.Config{RTSPAddr: "127.0.0.1:0", RecordDir: filepath.Join(dir, "recording"),
		RecordSegment: 2 * time.Second}, video.Deps{Auth: e.reg, Devices: e.reg,
		Authorize: e.server.AuthorizeVideo, Viewer: e.server.VideoViewer, Recordings: RecordingVault{Vault: vault}})
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	e.server.MountVideo(relay)

	var st video.RecordingState
	commander.mustDo(t, http.MethodGet, path, nil, http.StatusOK, &st)
	if st.State != video.RecordingIdle || st.DeviceID != rec.ID {
		t.Errorf("before: %+v, want idle", st)
	}
	reason := "押解途中全程录像"
	other.mustDo(t, http.MethodPost, path, RecordingRequest{Reason: reason}, http.StatusNotFound, nil)
	manager.mustDo(t, http.MethodPost, path, RecordingRequest{Reason: reason}, http.StatusForbidden, nil)
	for _, tc := range []struct {
		body  any
		field string
	}{
		{RecordingRequest{Reason: "  "}, "reason"},
		{`{}`, "reason"},
		{RecordingRequest{Reason: reason, MaxMinutes: new(0)}, "max_minutes"},
		{RecordingRequest{Reason: reason, MaxMinutes: new(100000)}, "max_minutes"},
		{`{"reason":"r","max_minutes":"ten"}`, "max_minutes"},
	} {
		if d := commander.mustFail(t, http.MethodPost, path, tc.body, http.StatusBadRequest); d.Field != tc.field {
			t.Errorf("%v: error on %q (%s), want %q", tc.body, d.Field, d.Message, tc.field)
		}
	}

	commander.mustDo(t, http.MethodPost, path, RecordingRequest{Reason: reason, MaxMinutes: new(10)}, http.StatusAccepted, &st)
	if st.State != video.RecordingWaiting || st.By != commander.user.ID || st.Reason != reason || st.Until == nil ||
		st.Until.Sub(*st.StartedAt) != 10*time.Minute {
		t.Fatalf("started = %+v, want waiting for 10 minutes, by the commander", st)
	}
	// The recorder pushes (here without being told: the MQTT side is not
	// part of this test).
	push := exec.CommandContext(t.Context(), ffmpeg, "-hide_banner", "-loglevel", "warning", "-nostdin", "-re",
		"-f", "lavfi", "-i", "testsrc=size=640x360:rate=25", "-t", "40",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", "25",
		"-f", "rtsp", "-rtsp_transport", "tcp", fmt.Sprintf("rtsp://%s:%s@%s/%s", rec.ID, rec.MQTTSecret, relay.RTSPAddr(), rec.ID))
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		push.Process.Kill()
		push.Wait()
	})
	deadline := time.Now().Add(45 * time.Second)
	for commander.mustDo(t, http.MethodGet, path, nil, http.StatusOK, &st); st.Segments < 2; commander.mustDo(t, http.MethodGet, path, nil, http.StatusOK, &st) {
		if time.Now().After(deadline) {
			t.Fatalf("no two segments stored in time: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st.State != video.RecordingActive || !slices.Equal(st.Codecs, []string{"H264"}) {
		t.Errorf("recording = %+v", st)
	}
	commander.mustDo(t, http.MethodPost, path, RecordingRequest{Reason: "again"}, http.StatusConflict, nil)
	other.mustDo(t, http.MethodDelete, path, nil, http.StatusNotFound, nil)
	commander.mustDo(t, http.MethodDelete, path, nil, http.StatusOK, &st)
	if st.State != video.RecordingStopped || st.StopCause != video.StopRequested || st.StoppedBy != commander.user.ID ||
		st.Segments < 3 || st.Failed != 0 {
		t.Fatalf("stopped = %+v, want stopped on request with at least 3 segments stored", st)
	}
	commander.mustDo(t, http.MethodDelete, path, nil, http.StatusNotFound, nil)

	// The segments are evidence of the device, as an auditor finds them.
	items := list[fleet.EvidenceItem](t, auditor, "/api/v1/evidence?device="+rec.ID)
	if len(items) != st.Segments {
		t.Fatalf("%d evidence items, want the %d segments", len(items), st.Segments)
	}
	var total int64
	for i, it := range items {
		if it.Source != fleet.EvidenceLive || it.StationID != "" || it.OffloadID != "" || it.OfficerID != officer.ID ||
			it.UnitID != o.stationA.ID || it.FileType != fleet.FileMP4 || it.EndAt == nil || it.DurationMS <= 0 ||
			(i < len(items)-1 && it.DurationMS < 2000) ||
			!strings.Contains(it.FileName, st.ID) {
			t.Errorf("item %d = %+v", i, it)
		}
		total += it.SizeBytes
		r := auditor.do(t, http.MethodGet, "/api/v1/evidence/"+it.ID+"/content?reason=%E5%AE%A1%E6%9F%A5", nil)
		sum := sha256.Sum256(r.body)
		if r.status != http.StatusOK || hex.EncodeToString(sum[:]) != it.SHA256 || int64(len(r.body)) != it.SizeBytes {
			t.Fatalf("content of %s: %d, %d bytes hashing to %x; the item says %d bytes, %s", it.ID, r.status, len(r.body), sum, it.SizeBytes, it.SHA256)
		}
		if i == 0 {
			file := filepath.Join(dir, "segment.mp4")
			if err := os.WriteFile(file, r.body, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.CommandContext(t.Context(), ffprobe, "-v", "error", "-select_streams", "v:0",
				"-show_entries", "stream=codec_name,width,height", "-of", "json", file).CombinedOutput()
			var p struct {
				Streams []struct {
					Codec         string `json:"codec_name"`
					Width, Height int
				}
			}
			if err != nil || json.Unmarshal(out, &p) != nil || len(p.Streams) != 1 || p.Streams[0].Codec != "h264" ||
				p.Streams[0].Width != 640 || p.Streams[0].Height != 360 {
				t.Errorf("ffprobe of the first segment: %v %s", err, out)
			}
		}
		var cr CustodyReport
		auditor.mustDo(t, http.MethodGet, "/api/v1/evidence/"+it.ID+"/custody", nil, http.StatusOK, &cr)
		if len(cr.Entries) < 1 {
			t.Fatalf("no custody for %s", it.ID)
		}
		if first := cr.Entries[0]; first.Action != fleet.CustodyIngest || first.ActorID != commander.user.ID ||
			first.Actor != "cmd.ja" || first.Reason != reason || !strings.Contains(first.Detail, "source=live recording="+st.ID) {
			t.Errorf("custody of %s begins with %+v", it.ID, first)
		}
	}
	if total != st.StoredBytes {
		t.Errorf("items hold %d bytes, the recording says %d", total, st.StoredBytes)
	}

	var audit struct{ Items []fleet.AuditEntry }
	admin.mustDo(t, http.MethodGet, "/api/v1/audit?entity=device&entity_id="+rec.ID+"&actor="+commander.user.ID, nil, http.StatusOK, &audit)
	var actions []string
	for _, a := range audit.Items {
		actions = append(actions, a.Action)
	}
	if !slices.Contains(actions, "video.record_start") || !slices.Contains(actions, "video.record_stop") {
		t.Errorf("audit of the commander on the device: %v, want video.record_start and video.record_stop", actions)
	}
}

// TestOpenAPIRecordingSchemas checks the recording schemas against their
// Go types, as TestOpenAPICoversRoutes does for the register's.
func TestOpenAPIRecordingSchemas(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for name, v := range map[string]any{
		"RecordingState": video.RecordingState{}, "RecordingRequest": RecordingRequest{}, "EvidenceItem": fleet.EvidenceItem{},
	} {
		var want []string
		for k := range jsonFields(reflect.TypeOf(v)) {
			want = append(want, k)
		}
		got := schemaProps(schemas, schemas[name].(map[string]any))
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("schema %s has %v; the Go type has %v", name, got, want)
		}
	}
}
