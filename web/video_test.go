package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
	"github.com/lawfleet/fleet/ingest/video"
)

// TestDeviceLive checks the playback endpoint with the real relay: who may
// watch, what they get, and that HLS itself demands the token.
func TestDeviceLive(t *testing.T) {
	e := newEnv(t, sqltest.SQLite(t))
	admin := e.login(t, "admin", adminPassword)
	o := e.seedOrg(t, admin)
	var rec fleet.NewDevice
	admin.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "ZFY-LIVE", UnitID: o.stationA.ID}, http.StatusCreated, &rec)

	// Not mounted yet: the route exists and says so.
	admin.mustDo(t, http.MethodGet, "/api/v1/devices/"+rec.ID+"/live", nil, http.StatusServiceUnavailable, nil)

	relay, err := video.New(video.Config{RTSPAddr: "127.0.0.1:0", WebRTCUDPAddr: "127.0.0.1:0"}, video.Deps{Auth: e.reg, Devices: e.reg,
		Authorize: e.server.AuthorizeVideo, Viewer: e.server.VideoViewer})
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	e.server.MountVideo(relay)

	commanderA := e.user(t, admin, "cmd.ja", fleet.RoleCommander, o.countyA.ID)
	commanderB := e.user(t, admin, "cmd.hs", fleet.RoleCommander, o.countyB.ID)
	manager := e.user(t, admin, "mgr.ja", fleet.RoleEquipmentManager, o.countyA.ID)

	var info video.LiveInfo
	commanderA.mustDo(t, http.MethodGet, "/api/v1/devices/"+rec.ID+"/live", nil, http.StatusOK, &info)
	if !strings.HasPrefix(info.HLS, "/video/"+rec.ID+"/index.m3u8?token=") || info.State == "" ||
		info.WebRTC == nil || *info.WebRTC != "/video/"+rec.ID+"/whep?token="+commanderA.token {
		t.Errorf("live = %+v (webrtc %v)", info, info.WebRTC)
	}
	commanderB.mustDo(t, http.MethodGet, "/api/v1/devices/"+rec.ID+"/live", nil, http.StatusNotFound, nil)
	manager.mustDo(t, http.MethodGet, "/api/v1/devices/"+rec.ID+"/live", nil, http.StatusForbidden, nil)

	// The playlist without a token is refused before any stream starts.
	resp, err := http.Get(e.srv.URL + "/video/" + rec.ID + "/index.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("HLS without token: %d, want 401", resp.StatusCode)
	}

	// WHEP takes the token as a bearer header too, and the same scope: a
	// commander of another county does not see the device, and a bad
	// offer from one who may watch is refused as such.
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"another county", commanderB.token, http.StatusNotFound},
		{"may watch, bad offer", commanderA.token, http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/video/"+rec.ID+"/whep", strings.NewReader("not an offer"))
		req.Header.Set("Content-Type", "application/sdp")
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("WHEP POST, %s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}
