package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/blobstore/disk"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
	"github.com/lawfleet/fleet/ingest/dockspool"
)

// vaultEnv is the API with a vault on a disk blob store, a unit tree, a
// recorder checked out to an officer and a registered dock station.
type vaultEnv struct {
	*testEnv
	db       *sqlstore.DB
	vault    *fleet.Vault
	blobs    *disk.Store
	vclock   *clock
	admin    *client
	org      org
	device   fleet.Device
	officer  fleet.Officer
	station  fleet.NewDockStation
	maxBytes int64
}

func newVaultEnv(t *testing.T, db *sqlstore.DB) *vaultEnv {
	t.Helper()
	dir := t.TempDir()
	blobs, err := disk.New(filepath.Join(dir, "evidence"))
	if err != nil {
		t.Fatal(err)
	}
	const maxBytes = 1 << 20
	spool, err := dockspool.New(filepath.Join(dir, "spool"), maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	vclock := &clock{t: testNow}
	vault, err := fleet.NewVault(db, blobs, fleet.RetentionPolicy{}, vclock.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, db, func(d *Deps) { d.Evidence = EvidenceDeps{Vault: vault, Spool: spool} })
	v := &vaultEnv{testEnv: e, db: db, vault: vault, blobs: blobs, vclock: vclock, maxBytes: maxBytes}
	v.admin = e.login(t, "admin", adminPassword)
	v.org = e.seedOrg(t, v.admin)
	var nd fleet.NewDevice
	v.admin.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "REC-001",
		Model: "DSJ-1", UnitID: v.org.countyA.ID}, http.StatusCreated, &nd)
	v.device = nd.Device
	v.admin.mustDo(t, http.MethodPost, "/api/v1/officers", officerIn(v.org.countyA.ID, "张伟", "420101"), http.StatusCreated, &v.officer)
	v.admin.mustDo(t, http.MethodPost, "/api/v1/devices/"+v.device.ID+"/checkout", fleet.CheckoutInput{OfficerID: v.officer.ID}, http.StatusCreated, nil)
	// Recordings start after the check-out, so they have an officer.
	e.clock.Advance(3 * time.Hour)
	vclock.Advance(3 * time.Hour)
	v.admin.mustDo(t, http.MethodPost, "/api/v1/dock/stations", fleet.DockStationInput{Name: "江岸采集站1", UnitID: v.org.countyA.ID}, http.StatusCreated, &v.station)
	if v.station.Secret == "" {
		t.Fatal("no station secret")
	}
	return v
}

// dockReq sends a station request with Basic credentials.
func (v *vaultEnv) dockReq(t *testing.T, method, path string, body []byte, hdr map[string]string, id, secret string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, v.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	for k, val := range hdr {
		req.Header.Set(k, val)
	}
	res, err := v.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (v *vaultEnv) fromStation(t *testing.T, method, path string, body []byte, hdr map[string]string) response {
	t.Helper()
	return v.dockReq(t, method, path, body, hdr, v.station.ID, v.station.Secret)
}

func (v *vaultEnv) openOffload(t *testing.T) fleet.Offload {
	t.Helper()
	r := v.fromStation(t, http.MethodPost, "/api/v1/dock/offloads", []byte(`{"serial":"REC-001"}`), map[string]string{"Content-Type": "application/json"})
	if r.status != http.StatusCreated {
		t.Fatalf("open offload: %d %s", r.status, r.body)
	}
	var o fleet.Offload
	mustJSON(t, r.body, &o)
	return o
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

func randomFile(t *testing.T, n int) ([]byte, string) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	s := sha256.Sum256(b)
	return b, hex.EncodeToString(s[:])
}

func fileHeaders(sum string) map[string]string {
	return map[string]string{HeaderContentSHA256: sum, HeaderRecordedStart: testNow.Add(time.Hour).Format(time.RFC3339),
		HeaderRecordedEnd: testNow.Add(2 * time.Hour).Format(time.RFC3339), HeaderPosition: "30.59,114.30",
		"Content-Type": "application/octet-stream"}
}

// upload sends a whole file and requires status.
func (v *vaultEnv) upload(t *testing.T, o fleet.Offload, name string, body []byte, sum string, status int) UploadStatus {
	t.Helper()
	r := v.fromStation(t, http.MethodPut, "/api/v1/dock/offloads/"+o.ID+"/files/"+name, body, fileHeaders(sum))
	if r.status != status {
		t.Fatalf("upload %s: %d, want %d: %s", name, r.status, status, r.body)
	}
	var us UploadStatus
	if status < 300 {
		mustJSON(t, r.body, &us)
	}
	return us
}

func TestDockOffloadResumesAfterCutConnection(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		v := newVaultEnv(t, db)
		o := v.openOffload(t)
		body, sum := randomFile(t, 300_000)
		path := "/api/v1/dock/offloads/" + o.ID + "/files/VID_0001.mp4"

		// Send the headers for the whole file and half the body, then cut
		// the connection, as a station losing power does.
		u, _ := url.Parse(v.srv.URL)
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		var hdr strings.Builder
		fmt.Fprintf(&hdr, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", path, u.Host, len(body))
		req, _ := http.NewRequest(http.MethodPut, "http://x/", nil)
		req.SetBasicAuth(v.station.ID, v.station.Secret)
		fmt.Fprintf(&hdr, "Authorization: %s\r\n", req.Header.Get("Authorization"))
		for k, val := range fileHeaders(sum) {
			fmt.Fprintf(&hdr, "%s: %s\r\n", k, val)
		}
		hdr.WriteString("\r\n")
		if _, err := io.WriteString(conn, hdr.String()); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(body[:len(body)/2]); err != nil {
			t.Fatal(err)
		}
		conn.Close()

		// The server keeps what arrived; HEAD tells how much, once the
		// handler has seen the cut (polled, not timed).
		var offset int64
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := v.fromStation(t, http.MethodHead, path, nil, nil)
			if r.status == http.StatusOK {
				offset, _ = strconv.ParseInt(r.header.Get(HeaderUploadOffset), 10, 64)
				if offset > 0 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("HEAD after the cut: %d %v", r.status, r.header)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if offset > int64(len(body)/2) {
			t.Fatalf("offset %d is past what was sent", offset)
		}

		// A piece from the wrong offset is refused with the right one.
		h := fileHeaders(sum)
		h["Content-Range"] = fmt.Sprintf("bytes 0-9/%d", len(body))
		r := v.fromStation(t, http.MethodPut, path, body[:10], h)
		if r.status != http.StatusConflict || r.header.Get(HeaderUploadOffset) != strconv.FormatInt(offset, 10) {
			t.Fatalf("wrong offset: %d %v %s", r.status, r.header, r.body)
		}

		// Resume from the offset.
		h["Content-Range"] = fmt.Sprintf("bytes %d-%d/%d", offset, len(body)-1, len(body))
		r = v.fromStation(t, http.MethodPut, path, body[offset:], h)
		if r.status != http.StatusCreated {
			t.Fatalf("resume: %d %s", r.status, r.body)
		}
		var us UploadStatus
		mustJSON(t, r.body, &us)
		if !us.Confirmed || us.Item == nil || us.Item.SHA256 != sum || us.Item.SizeBytes != int64(len(body)) {
			t.Fatalf("resume answer: %s", r.body)
		}
		it := *us.Item
		if it.OfficerID != v.officer.ID || it.DeviceID != v.device.ID || it.UnitID != v.org.countyA.ID ||
			it.FileType != fleet.FileMP4 || it.Lat == nil || it.DurationMS != 3_600_000 || it.RetainUntil == nil {
			t.Errorf("item = %+v", it)
		}

		// The stored file is the file, and the download is logged.
		auditor := v.user(t, v.admin, "auditor1", fleet.RoleAuditor, v.org.city.ID)
		auditor.mustFail(t, http.MethodGet, "/api/v1/evidence/"+it.ID+"/content", nil, http.StatusBadRequest)
		got := auditor.do(t, http.MethodGet, "/api/v1/evidence/"+it.ID+"/content?reason=case+review", nil)
		if got.status != http.StatusOK || !bytes.Equal(got.body, body) {
			t.Fatalf("download: %d, %d bytes", got.status, len(got.body))
		}
		req2, _ := http.NewRequest(http.MethodGet, v.srv.URL+"/api/v1/evidence/"+it.ID+"/content", nil)
		req2.Header.Set("Authorization", "Bearer "+auditor.token)
		req2.Header.Set(ReasonHeader, "playback")
		req2.Header.Set("Range", "bytes=100-199")
		res, err := v.srv.Client().Do(req2)
		if err != nil {
			t.Fatal(err)
		}
		part, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusPartialContent || !bytes.Equal(part, body[100:200]) {
			t.Fatalf("range: %d %d bytes", res.StatusCode, len(part))
		}
		var rep CustodyReport
		auditor.mustDo(t, http.MethodGet, "/api/v1/evidence/"+it.ID+"/custody", nil, http.StatusOK, &rep)
		var actions []string
		for _, e := range rep.Entries {
			actions = append(actions, string(e.Action))
		}
		if strings.Join(actions, ",") != "ingest,download,download" || rep.Entries[1].Reason != "case review" {
			t.Errorf("custody = %v", actions)
		}

		// Sent again (another offload): stored once, confirmed at once.
		o2 := v.openOffload(t)
		again := v.upload(t, o2, "VID_0001.mp4", body, sum, http.StatusOK)
		if !again.Confirmed || again.Item.ID != it.ID {
			t.Errorf("second send: %+v", again)
		}
		var found List[fleet.EvidenceItem]
		auditor.mustDo(t, http.MethodGet, "/api/v1/evidence?officer="+v.officer.ID, nil, http.StatusOK, &found)
		if len(found.Items) != 1 {
			t.Errorf("search found %d items", len(found.Items))
		}

		// The offload counted as a check-in.
		var d fleet.Device
		v.admin.mustDo(t, http.MethodGet, "/api/v1/devices/"+v.device.ID, nil, http.StatusOK, &d)
		if d.LastSeenAt == nil {
			t.Error("dock offload did not check the device in")
		}
	})
}

func TestDockUploadsRefused(t *testing.T) {
	v := newVaultEnv(t, sqltest.SQLite(t))
	o := v.openOffload(t)
	body, sum := randomFile(t, 1000)
	base := "/api/v1/dock/offloads/" + o.ID + "/files/"

	// Bytes that do not hash to the declared SHA-256: 422, nothing stored.
	_, other := randomFile(t, 10)
	r := v.fromStation(t, http.MethodPut, base+"a.mp4", body, fileHeaders(other))
	if r.status != http.StatusUnprocessableEntity || r.errorDetail(t).Code != EHashMismatchCode {
		t.Fatalf("mismatch: %d %s", r.status, r.body)
	}
	if _, err := v.blobs.Stat(context.Background(), other); fleet.ErrorCode(err) != fleet.ENOTFOUND {
		t.Errorf("mismatched file stored: %v", err)
	}
	if _, err := v.blobs.Stat(context.Background(), sum); fleet.ErrorCode(err) != fleet.ENOTFOUND {
		t.Errorf("mismatched bytes stored: %v", err)
	}

	big := v.maxBytes + 1
	cases := []struct {
		name, path string
		body       []byte
		hdr        map[string]string
		id, secret string
		status     int
		field      string
	}{
		{"traversal", base + "../../../etc/passwd.mp4", body, fileHeaders(sum), v.station.ID, v.station.Secret, 400, "name"},
		{"encoded traversal", base + "..%2F..%2Fx.mp4", body, fileHeaders(sum), v.station.ID, v.station.Secret, 400, "name"},
		{"hidden", base + ".x.mp4", body, fileHeaders(sum), v.station.ID, v.station.Secret, 400, "name"},
		{"not a recording", base + "run.sh", body, fileHeaders(sum), v.station.ID, v.station.Secret, 400, "name"},
		{"zero length", base + "z.mp4", []byte{}, fileHeaders(sum), v.station.ID, v.station.Secret, 400, "size_bytes"},
		{"oversize", base + "big.mp4", body, withRange(fileHeaders(sum), fmt.Sprintf("bytes 0-%d/%d", len(body)-1, big)), v.station.ID, v.station.Secret, 413, "size_bytes"},
		{"no hash", base + "n.mp4", body, map[string]string{HeaderRecordedStart: testNow.Format(time.RFC3339)}, v.station.ID, v.station.Secret, 400, HeaderContentSHA256},
		{"no start time", base + "s.mp4", body, map[string]string{HeaderContentSHA256: sum}, v.station.ID, v.station.Secret, 400, HeaderRecordedStart},
		{"unregistered station", base + "u.mp4", body, fileHeaders(sum), "dock_unknown", "whatever", 401, ""},
		{"wrong secret", base + "u.mp4", body, fileHeaders(sum), v.station.ID, "wrong", 401, ""},
		{"no credentials", base + "u.mp4", body, fileHeaders(sum), "", "", 401, ""},
		{"unknown offload", "/api/v1/dock/offloads/off_nope/files/a.mp4", body, fileHeaders(sum), v.station.ID, v.station.Secret, 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := v.dockReq(t, http.MethodPut, tc.path, tc.body, tc.hdr, tc.id, tc.secret)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			d := r.errorDetail(t)
			if d.Field != tc.field {
				t.Errorf("field %q, want %q (%s)", d.Field, tc.field, d.Message)
			}
		})
	}
	// An unregistered station cannot open an offload either.
	r = v.dockReq(t, http.MethodPost, "/api/v1/dock/offloads", []byte(`{"serial":"REC-001"}`),
		map[string]string{"Content-Type": "application/json"}, "dock_x", "y")
	if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("unregistered offload: %d %s", r.status, r.body)
	}
	// Nothing escaped the spool or the store.
	if _, err := os.Stat("/etc/passwd.mp4"); err == nil {
		t.Error("a traversal name wrote outside the spool")
	}
}

func withRange(h map[string]string, r string) map[string]string {
	h["Content-Range"] = r
	return h
}

func TestEvidenceVerifierHoldAndRetention(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		v := newVaultEnv(t, db)
		o := v.openOffload(t)
		var items []fleet.EvidenceItem
		for i := range 3 {
			b, sum := randomFile(t, 5000+i)
			us := v.upload(t, o, fmt.Sprintf("F%d.jpg", i), b, sum, http.StatusCreated)
			items = append(items, *us.Item)
		}
		auditor := v.user(t, v.admin, "auditor1", fleet.RoleAuditor, v.org.province.ID)
		var rep fleet.VerifyReport
		auditor.mustDo(t, http.MethodPost, "/api/v1/evidence/verify", nil, http.StatusOK, &rep)
		if !rep.OK || rep.Items != 3 || rep.CustodyEntries != 3 {
			t.Fatalf("clean vault: %+v", rep)
		}

		// A file altered on disk after ingest is found.
		p := v.blobs.Path(items[1].SHA256)
		if err := os.Chmod(p, 0o640); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt([]byte{'X'}, 10)
		f.Close()
		auditor.mustDo(t, http.MethodPost, "/api/v1/evidence/verify", nil, http.StatusOK, &rep)
		if rep.OK || len(rep.FileProblems) != 1 || rep.FileProblems[0].ItemID != items[1].ID || rep.FileProblems[0].Problem != "altered" {
			t.Fatalf("altered file: %+v", rep)
		}

		// A custody row altered in the database is found.
		alterCustody(t, db, items[0].ID)
		auditor.mustDo(t, http.MethodPost, "/api/v1/evidence/verify", `{"skip_files":true}`, http.StatusOK, &rep)
		if rep.OK || len(rep.ChainBreaks) != 1 || rep.ChainBreaks[0].ItemID != items[0].ID {
			t.Fatalf("broken chain: %+v", rep)
		}

		// Legal hold stops deletion by anyone, and by retention.
		auditor.mustDo(t, http.MethodPost, "/api/v1/evidence/"+items[2].ID+"/hold", ReasonRequest{Reason: "complaint 2026-17"}, http.StatusOK, nil)
		d := v.admin.mustFail(t, http.MethodDelete, "/api/v1/evidence/"+items[2].ID, ReasonRequest{Reason: "duplicate"}, http.StatusConflict)
		if !strings.Contains(d.Message, "legal hold") {
			t.Errorf("delete under hold: %+v", d)
		}
		auditor.mustFail(t, http.MethodDelete, "/api/v1/evidence/"+items[0].ID, ReasonRequest{Reason: "x"}, http.StatusForbidden)
		v.admin.mustFail(t, http.MethodDelete, "/api/v1/evidence/"+items[0].ID, ReasonRequest{}, http.StatusBadRequest)

		// items[1] becomes case footage of a case closed a year after
		// recording: kept five more years. items[0] stays no_incident.
		closed := testNow.AddDate(1, 0, 0)
		auditor.mustDo(t, http.MethodPost, "/api/v1/evidence/"+items[1].ID+"/classify",
			fleet.ClassifyInput{Category: fleet.CategoryCase, CaseNumber: "鄂交执罚〔2026〕17号", CaseClosedAt: &closed, Reason: "linked"}, http.StatusOK, nil)

		sweep := fleet.NewRetentionSweep(v.vault, time.Hour, nil)
		v.vclock.Advance(179 * 24 * time.Hour)
		mustSweep(t, sweep)
		if got := liveCount(t, v); got != 3 {
			t.Fatalf("day 179: %d live", got)
		}
		v.vclock.Advance(2 * 24 * time.Hour) // past 180 days from the recording
		mustSweep(t, sweep)
		for i, want := range []bool{true, false, false} {
			it := getItem(t, v, items[i].ID)
			if (it.DeletedAt != nil) != want {
				t.Errorf("item %d deleted=%v, want %v", i, it.DeletedAt != nil, want)
			}
		}
		if _, err := v.blobs.Stat(context.Background(), items[0].SHA256); fleet.ErrorCode(err) != fleet.ENOTFOUND {
			t.Errorf("retention left the file: %v", err)
		}
		_, entries, err := v.vault.CustodyReport(context.Background(), fleet.User{Role: fleet.RoleAdmin}, items[0].ID)
		if err != nil || !slices.ContainsFunc(entries, func(e fleet.CustodyEntry) bool {
			return e.Action == fleet.CustodyDelete && e.ActorID == "system"
		}) {
			t.Errorf("retention custody: %v %+v", err, entries)
		}
		// Released, the held item goes at the next sweep; the case item stays.
		auditor.mustDo(t, http.MethodPost, "/api/v1/evidence/"+items[2].ID+"/release", ReasonRequest{Reason: "complaint closed"}, http.StatusOK, nil)
		mustSweep(t, sweep)
		if it := getItem(t, v, items[2].ID); it.DeletedAt == nil {
			t.Error("released item kept past retention")
		}
		if it := getItem(t, v, items[1].ID); it.DeletedAt != nil {
			t.Error("case item deleted before case close + 5 years")
		}
	})
}

func mustSweep(t *testing.T, s *fleet.Sweep) {
	t.Helper()
	if err := s.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func getItem(t *testing.T, v *vaultEnv, id string) fleet.EvidenceItem {
	t.Helper()
	var it fleet.EvidenceItem
	v.admin.mustDo(t, http.MethodGet, "/api/v1/evidence/"+id, nil, http.StatusOK, &it)
	return it
}

func liveCount(t *testing.T, v *vaultEnv) int {
	t.Helper()
	var l List[fleet.EvidenceItem]
	v.admin.mustDo(t, http.MethodGet, "/api/v1/evidence", nil, http.StatusOK, &l)
	return len(l.Items)
}

// alterCustody rewrites the reason of an item's ingest entry past the
// append-only trigger, as someone with the database's keys could.
func alterCustody(t *testing.T, db *sqlstore.DB, itemID string) {
	t.Helper()
	ctx := context.Background()
	stmts := []string{
		"DROP TRIGGER evidence_custody_no_update",
		"UPDATE evidence_custody SET actor = 'someone else' WHERE item_id = $1",
	}
	if db.Dialect() == sqlstore.Postgres {
		stmts[0] = "ALTER TABLE evidence_custody DISABLE TRIGGER evidence_custody_no_update_delete"
	}
	if _, err := db.SQL().ExecContext(ctx, "UPDATE evidence_custody SET actor = 'x' WHERE item_id = $1", itemID); err == nil {
		t.Fatal("the custody log accepted an UPDATE")
	}
	if _, err := db.SQL().ExecContext(ctx, stmts[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, stmts[1], itemID); err != nil {
		t.Fatal(err)
	}
}
