package web

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
)

// offloadsOf lists offloads as c sees them, with query q.
func offloadsOf(t *testing.T, c *client, q url.Values) []fleet.OffloadProgress {
	t.Helper()
	path := "/api/v1/dock/offloads"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return list[fleet.OffloadProgress](t, c, path)
}

func offloadOf(t *testing.T, c *client, id string) fleet.OffloadDetail {
	t.Helper()
	var d fleet.OffloadDetail
	c.mustDo(t, http.MethodGet, "/api/v1/dock/offloads/"+id, nil, http.StatusOK, &d)
	return d
}

func onlyOffload(t *testing.T, items []fleet.OffloadProgress, id string) fleet.OffloadProgress {
	t.Helper()
	for _, p := range items {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("offload %s is not listed in %+v", id, items)
	return fleet.OffloadProgress{}
}

// putPiece sends bytes [from, to) of body with Content-Range.
func (v *vaultEnv) putPiece(t *testing.T, o fleet.Offload, name string, body []byte, sum string, from, to int, status int) {
	t.Helper()
	h := fileHeaders(sum)
	h["Content-Range"] = fmt.Sprintf("bytes %d-%d/%d", from, to-1, len(body))
	r := v.fromStation(t, http.MethodPut, "/api/v1/dock/offloads/"+o.ID+"/files/"+name, body[from:to], h)
	if r.status != status {
		t.Fatalf("PUT %s bytes %d-%d: %d, want %d: %s", name, from, to, r.status, status, r.body)
	}
}

// TestDockOffloadProgress follows offloads through the API as the dock
// page reads them: opened, half a file in (in_progress with its bytes),
// finished (complete, with the evidence item), a refused file and a
// stalled station, a manifest with a file the vault already holds, and
// who may see what.
func TestDockOffloadProgress(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		v := newVaultEnv(t, db)
		auditor := v.user(t, v.admin, "auditor1", fleet.RoleAuditor, v.org.city.ID)
		manager := v.user(t, v.admin, "manager1", fleet.RoleEquipmentManager, v.org.countyA.ID)
		otherUnit := v.user(t, v.admin, "auditor2", fleet.RoleAuditor, v.org.countyB.ID)
		officer := v.user(t, v.admin, "officer1", fleet.RoleOfficer, v.org.countyA.ID)

		// Opened, nothing sent: open, with who docked what.
		o := v.openOffload(t)
		p := onlyOffload(t, offloadsOf(t, auditor, nil), o.ID)
		if p.Status != fleet.OffloadOpen || p.StationID != v.station.ID || p.StationName != v.station.Name ||
			p.DeviceSerial != "REC-001" || p.OfficerID != v.officer.ID || p.OfficerName != "张伟" ||
			p.FilesAnnounced != 0 || !p.LastActivityAt.Equal(p.OpenedAt) {
			t.Fatalf("new offload = %+v", p)
		}

		// Half a file: in progress, with the bytes received.
		body, sum := randomFile(t, 300_000)
		v.putPiece(t, o, "VID_0001.mp4", body, sum, 0, 150_000, http.StatusAccepted)
		p = onlyOffload(t, offloadsOf(t, auditor, nil), o.ID)
		if p.Status != fleet.OffloadInProgress || p.FilesAnnounced != 1 || p.FilesReceived != 0 || p.FilesConfirmed != 0 ||
			p.BytesReceived != 150_000 || p.BytesDeclared != 300_000 {
			t.Fatalf("half sent = %+v", p)
		}
		d := offloadOf(t, auditor, o.ID)
		if len(d.Files) != 1 || d.Files[0].Name != "VID_0001.mp4" || d.Files[0].State != fleet.OffloadFileReceiving ||
			d.Files[0].ReceivedBytes != 150_000 || d.Files[0].SizeBytes != 300_000 || d.Files[0].SHA256 != sum || d.Files[0].EvidenceID != "" {
			t.Fatalf("half sent, files = %+v", d.Files)
		}

		// The rest: complete, the file confirmed as an evidence item.
		v.putPiece(t, o, "VID_0001.mp4", body, sum, 150_000, len(body), http.StatusCreated)
		var items List[fleet.EvidenceItem]
		auditor.mustDo(t, http.MethodGet, "/api/v1/evidence?device="+v.device.ID, nil, http.StatusOK, &items)
		if len(items.Items) != 1 {
			t.Fatalf("evidence after the upload: %+v", items.Items)
		}
		item := items.Items[0]
		p = onlyOffload(t, offloadsOf(t, auditor, url.Values{"status": {"complete"}}), o.ID)
		if p.FilesConfirmed != 1 || p.FilesReceived != 1 || p.BytesReceived != 300_000 {
			t.Fatalf("complete = %+v", p)
		}
		d = offloadOf(t, auditor, o.ID)
		if f := d.Files[0]; f.State != fleet.OffloadFileConfirmed || f.EvidenceID != item.ID || f.ReceivedBytes != 300_000 {
			t.Fatalf("confirmed file = %+v", f)
		}
		// An equipment manager follows the offload but not into the
		// evidence: no item id.
		if d := offloadOf(t, manager, o.ID); d.Status != fleet.OffloadComplete || d.Files[0].EvidenceID != "" {
			t.Errorf("manager's view = %+v", d)
		}
		// Another unit sees nothing of it; an officer may not look.
		if got := offloadsOf(t, otherUnit, nil); len(got) != 0 {
			t.Errorf("another unit's auditor lists %+v", got)
		}
		otherUnit.mustFail(t, http.MethodGet, "/api/v1/dock/offloads/"+o.ID, nil, http.StatusNotFound)
		officer.mustFail(t, http.MethodGet, "/api/v1/dock/offloads", nil, http.StatusForbidden)

		// A manifest: the file already in the vault is confirmed at once,
		// the other is refused for its hash, then the station goes quiet.
		audio, audioSum := randomFile(t, 5000)
		manifest := fmt.Sprintf(`{"serial":"REC-001","files":[{"name":"VID_0001.mp4","size_bytes":300000,"sha256":%q},
			{"name":"AUD_0002.wav","size_bytes":5000,"sha256":%q}]}`, sum, audioSum)
		r := v.fromStation(t, http.MethodPost, "/api/v1/dock/offloads", []byte(manifest), map[string]string{"Content-Type": "application/json"})
		if r.status != http.StatusCreated {
			t.Fatalf("open with manifest: %d %s", r.status, r.body)
		}
		var o2 fleet.Offload
		mustJSON(t, r.body, &o2)
		p = onlyOffload(t, offloadsOf(t, auditor, nil), o2.ID)
		if p.Status != fleet.OffloadInProgress || p.FilesAnnounced != 2 || p.FilesConfirmed != 1 ||
			p.BytesDeclared != 305_000 || p.BytesReceived != 300_000 {
			t.Fatalf("announced = %+v", p)
		}
		_, wrong := randomFile(t, 10)
		v.upload(t, o2, "AUD_0002.wav", audio, wrong, http.StatusUnprocessableEntity)
		d = offloadOf(t, auditor, o2.ID)
		i := slices.IndexFunc(d.Files, func(f fleet.OffloadFile) bool { return f.Name == "AUD_0002.wav" })
		if i < 0 || d.Files[i].State != fleet.OffloadFileFailed || d.Files[i].ErrorCode != EHashMismatchCode || d.Files[i].Error == "" ||
			d.FilesFailed != 1 {
			t.Fatalf("refused file: %+v", d)
		}
		v.vclock.Advance(fleet.DefaultStallAfter + time.Second)
		stalled := offloadsOf(t, auditor, url.Values{"status": {"stalled"}})
		if len(stalled) != 1 || stalled[0].ID != o2.ID || stalled[0].Status != fleet.OffloadStalled {
			t.Fatalf("stalled = %+v", stalled)
		}
		if got := offloadsOf(t, auditor, url.Values{"status": {"in_progress"}}); len(got) != 0 {
			t.Errorf("in progress while stalled: %+v", got)
		}
		// Sent again, right: complete.
		v.upload(t, o2, "AUD_0002.wav", audio, audioSum, http.StatusCreated)
		if p := onlyOffload(t, offloadsOf(t, auditor, nil), o2.ID); p.Status != fleet.OffloadComplete || p.FilesFailed != 0 {
			t.Fatalf("after sending again = %+v", p)
		}

		// Filters.
		for _, tc := range []struct {
			q    url.Values
			want []string
		}{
			{nil, []string{o2.ID, o.ID}},
			{url.Values{"station_id": {v.station.ID}}, []string{o2.ID, o.ID}},
			{url.Values{"station_id": {"dock_other"}}, []string{}},
			{url.Values{"device_id": {v.device.ID}, "unit_id": {v.org.countyA.ID}}, []string{o2.ID, o.ID}},
			{url.Values{"unit_id": {v.org.stationA.ID}}, []string{}},
			{url.Values{"since": {testNow.AddDate(0, 0, 1).Format(time.DateOnly)}}, []string{}},
			{url.Values{"since": {testNow.Format(time.RFC3339)}, "status": {"complete"}}, []string{o2.ID, o.ID}},
			{url.Values{"status": {"open"}}, []string{}},
		} {
			got := []string{}
			for _, p := range offloadsOf(t, auditor, tc.q) {
				got = append(got, p.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("?%s = %v, want %v", tc.q.Encode(), got, tc.want)
			}
		}
		var page List[fleet.OffloadProgress]
		auditor.mustDo(t, http.MethodGet, "/api/v1/dock/offloads?limit=1", nil, http.StatusOK, &page)
		if len(page.Items) != 1 || page.Items[0].ID != o2.ID || page.Next == nil {
			t.Errorf("first page of one = %+v", page)
		}

		// Bad queries name their field.
		for q, field := range map[string]string{
			"status=done":              "status",
			"since=yesterday":          "since",
			"limit=0":                  "limit",
			"unit_id=unit_nope":        "unit_id",
			"unit_id=" + v.org.city.ID: "unit_id", // above the manager's unit
		} {
			if e := manager.mustFail(t, http.MethodGet, "/api/v1/dock/offloads?"+q, nil, http.StatusBadRequest); e.Field != field {
				t.Errorf("?%s: field %q, want %q (%s)", q, e.Field, field, e.Message)
			}
		}
		manager.mustFail(t, http.MethodGet, "/api/v1/dock/offloads/off_nope", nil, http.StatusNotFound)

		// A bad manifest opens nothing.
		before := len(offloadsOf(t, auditor, nil))
		for body, field := range map[string]string{
			`{"serial":"REC-001","files":[{"name":"../x.mp4","size_bytes":1,"sha256":"` + sum + `"}]}`:                                                     "files[0].name",
			`{"serial":"REC-001","files":[{"name":"a.mp4","size_bytes":0,"sha256":"` + sum + `"}]}`:                                                        "files[0].size_bytes",
			`{"serial":"REC-001","files":[{"name":"a.mp4","size_bytes":1,"sha256":"x"}]}`:                                                                  "files[0].sha256",
			`{"serial":"REC-001","files":[{"name":"a.mp4","size_bytes":9999999,"sha256":"` + sum + `"}]}`:                                                  "files[0].size_bytes",
			`{"serial":"REC-001","files":[{"name":"a.mp4","size_bytes":1,"sha256":"` + sum + `"},{"name":"a.mp4","size_bytes":1,"sha256":"` + sum + `"}]}`: "files[1].name",
		} {
			r := v.fromStation(t, http.MethodPost, "/api/v1/dock/offloads", []byte(body), map[string]string{"Content-Type": "application/json"})
			if r.status/100 != 4 || r.errorDetail(t).Field != field {
				t.Errorf("manifest %s: %d %s, want field %s", body, r.status, r.body, field)
			}
		}
		if after := len(offloadsOf(t, auditor, nil)); after != before {
			t.Errorf("bad manifests opened %d offloads", after-before)
		}
	})
}

// TestDockOffloadProgressWhileStreaming sends one file in one long
// request and reads the listing while the bytes still arrive: progress is
// recorded during the request, not only at its end.
func TestDockOffloadProgressWhileStreaming(t *testing.T) {
	v := newVaultEnv(t, sqltest.SQLite(t))
	v.server.ev.ProgressEvery = 20 * time.Millisecond
	auditor := v.user(t, v.admin, "auditor1", fleet.RoleAuditor, v.org.city.ID)
	o := v.openOffload(t)
	body, sum := randomFile(t, 400_000)

	pr, pw := io.Pipe()
	// On a failure, end the request so that the server can close.
	t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
	req, err := http.NewRequest(http.MethodPut, v.srv.URL+"/api/v1/dock/offloads/"+o.ID+"/files/VID_0009.mp4", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	req.SetBasicAuth(v.station.ID, v.station.Secret)
	for k, val := range fileHeaders(sum) {
		req.Header.Set(k, val)
	}
	done := make(chan *http.Response, 1)
	go func() {
		res, err := v.srv.Client().Do(req)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	// A quarter, a pause longer than ProgressEvery, another quarter: the
	// listing shows bytes while the request is still open.
	if _, err := pw.Write(body[:100_000]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if _, err := pw.Write(body[100_000:200_000]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := onlyOffload(t, offloadsOf(t, auditor, nil), o.ID)
		if p.BytesReceived >= 100_000 && p.Status == fleet.OffloadInProgress {
			if p.BytesReceived > 200_000 {
				t.Fatalf("more bytes recorded than sent: %+v", p)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress while streaming: %+v", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The detail adds what this process's spool holds since the last
	// record: all 200,000 bytes sent so far.
	for {
		d := offloadOf(t, auditor, o.ID)
		if len(d.Files) == 1 && d.Files[0].ReceivedBytes == 200_000 && d.BytesReceived == 200_000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("detail while streaming: %+v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := pw.Write(body[200_000:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	res := <-done
	if res == nil {
		t.FailNow()
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d", res.StatusCode)
	}
	if p := onlyOffload(t, offloadsOf(t, auditor, nil), o.ID); p.Status != fleet.OffloadComplete || p.BytesReceived != 400_000 {
		t.Errorf("after the request = %+v", p)
	}
}

// TestOpenAPIOffloadSchemas checks the offload progress schemas against
// their Go types, as TestOpenAPICoversRoutes does for the register's.
func TestOpenAPIOffloadSchemas(t *testing.T) {
	var doc map[string]any
	mustJSON(t, openapiDoc, &doc)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for name, v := range map[string]any{
		"OffloadProgress": fleet.OffloadProgress{}, "OffloadDetail": fleet.OffloadDetail{}, "OffloadFile": fleet.OffloadFile{},
		"AnnouncedFile": fleet.AnnouncedFile{}, "OffloadRequest": OffloadRequest{}, "Offload": fleet.Offload{},
		"OffloadProgressList": List[fleet.OffloadProgress]{},
	} {
		sch, ok := schemas[name].(map[string]any)
		if !ok {
			t.Errorf("schema %s is missing", name)
			continue
		}
		var want []string
		for k := range jsonFields(reflect.TypeOf(v)) {
			want = append(want, k)
		}
		got := schemaProps(schemas, sch)
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("schema %s has %v; the Go type has %v", name, got, want)
		}
	}
}
