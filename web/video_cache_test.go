package web

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
	"github.com/lawfleet/fleet/ingest/video"
)

// The relay's checks of a viewer's requests are kept for videoAuthTTL:
// within it a signed-out session still plays and a newly granted device
// is still refused; after it both take effect. Seen through the video
// endpoint with the real relay: 503 (allowed, the stream is not live),
// 401 (no session), 404 (not in the viewer's units).
func TestVideoAuthorizationCached(t *testing.T) {
	e := newEnv(t, sqltest.SQLite(t))
	e.server.videoAuth.setClock(e.clock.Now)
	admin := e.login(t, "admin", adminPassword)
	o := e.seedOrg(t, admin)
	var recA, recB fleet.NewDevice
	admin.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "ZFY-CACHE-A", UnitID: o.stationA.ID}, http.StatusCreated, &recA)
	admin.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "ZFY-CACHE-B", UnitID: o.countyB.ID}, http.StatusCreated, &recB)

	relay, err := video.New(video.Config{RTSPAddr: "127.0.0.1:0", ReadyTimeout: 50 * time.Millisecond},
		video.Deps{Auth: e.reg, Devices: e.reg, Authorize: e.server.AuthorizeVideo, Viewer: e.server.VideoViewer})
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	e.server.MountVideo(relay)

	leaving := e.user(t, admin, "cmd.leaving", fleet.RoleCommander, o.countyA.ID)
	staying := e.user(t, admin, "cmd.staying", fleet.RoleCommander, o.countyA.ID)
	playlist := func(c *client, deviceID string) int {
		t.Helper()
		res, err := http.Get(e.srv.URL + "/video/" + deviceID + "/index.m3u8?token=" + c.token)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	check := func(when string, want map[*client]map[string]int) {
		t.Helper()
		for c, statuses := range want {
			for id, status := range statuses {
				if got := playlist(c, id); got != status {
					t.Errorf("%s: %s plays %s: %d, want %d", when, c.user.Username, id, got, status)
				}
			}
		}
	}

	check("signed in", map[*client]map[string]int{
		leaving: {recA.ID: http.StatusServiceUnavailable},
		staying: {recB.ID: http.StatusNotFound},
	})

	leaving.mustDo(t, http.MethodDelete, "/api/v1/session", nil, http.StatusNoContent, nil)
	leaving.mustDo(t, http.MethodGet, "/api/v1/me", nil, http.StatusUnauthorized, nil) // the API is not cached
	admin.mustDo(t, http.MethodPatch, "/api/v1/devices/"+recB.ID, map[string]string{"unit_id": o.stationA.ID}, http.StatusOK, nil)

	e.clock.Advance(videoAuthTTL - time.Second)
	check("within the TTL", map[*client]map[string]int{
		leaving: {recA.ID: http.StatusServiceUnavailable},
		staying: {recB.ID: http.StatusNotFound},
	})

	e.clock.Advance(time.Second)
	check("after the TTL", map[*client]map[string]int{
		leaving: {recA.ID: http.StatusUnauthorized},
		staying: {recB.ID: http.StatusServiceUnavailable},
	})
}

func TestVideoAuthCache(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	c := &videoAuthCache{}
	c.setClock(func() time.Time { return now })
	denied := fleet.Errorf(fleet.EFORBIDDEN, "no")

	for _, tc := range []struct {
		name string
		err  error
		kept bool
	}{
		{"grant", nil, true},
		{"refusal", denied, true},
		{"no session", fleet.Errorf(fleet.EUNAUTHORIZED, "sign in"), true},
		{"store unavailable", fleet.Errorf(fleet.EUNAVAILABLE, "down"), false},
		{"internal error", errors.New("disk I/O"), false},
	} {
		k := newVideoAuthKey("token-"+tc.name, "dev_1")
		c.put(k, "usr_1", tc.err)
		e, ok := c.get(k)
		if ok != tc.kept || (ok && (e.userID != "usr_1" || e.err != tc.err)) {
			t.Errorf("%s: get = %+v, %v; want kept %v", tc.name, e, ok, tc.kept)
		}
	}

	// Keys tell the device, and the device from the viewer lookup.
	if _, ok := c.get(newVideoAuthKey("token-grant", "dev_2")); ok {
		t.Error("a grant for dev_1 answers for dev_2")
	}
	if _, ok := c.get(newVideoAuthKey("token-grant", "")); ok {
		t.Error("a grant for dev_1 answers the viewer lookup")
	}

	now = now.Add(videoAuthTTL)
	if _, ok := c.get(newVideoAuthKey("token-refusal", "dev_1")); ok {
		t.Error("a refusal outlived the TTL")
	}

	// Bounded: a flood of tokens evicts, the newest entry stays.
	var last videoAuthKey
	for i := range videoAuthMax + 500 {
		last = newVideoAuthKey(fmt.Sprintf("flood-%d", i), "dev_1")
		c.put(last, "", fleet.Errorf(fleet.EUNAUTHORIZED, "unknown"))
	}
	c.mu.Lock()
	n := len(c.entries)
	c.mu.Unlock()
	if n > videoAuthMax {
		t.Errorf("%d entries, want at most %d", n, videoAuthMax)
	}
	if _, ok := c.get(last); !ok {
		t.Error("the newest entry was evicted")
	}
}
