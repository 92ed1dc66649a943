package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/video"
	"github.com/lawfleet/fleet/internal/testenv"
)

// TestSOSRecordsLiveStream runs the whole service: a recorder raises an
// SOS over MQTT; the service starts recording its live stream as the
// system, which tells the recorder over MQTT to push (stream.start); the
// recorder (ffmpeg) pushes to the relay; once stopped, the recording is
// evidence of the device whose custody begins with the system and the
// SOS alert as the reason, and the audit log says the system started it.
func TestSOSRecordsLiveStream(t *testing.T) {
	ffmpeg, _ := testenv.FFmpeg(t)
	m := startMain(t, "-public-host", "127.0.0.1")
	a, d := register(t, m)
	c, err := connect(t, "tcp://"+m.MQTTAddr(), d.ID, d.MQTTSecret)
	if err != nil {
		t.Fatal(err)
	}

	// The recorder: on stream.start it pushes a test pattern, with its own
	// credentials, to the URL it was given.
	var mu sync.Mutex
	var push *exec.Cmd
	var pushErr error
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if push != nil {
			push.Process.Kill()
			push.Wait()
		}
	})
	tok := c.Subscribe("fleet/v1/"+d.ID+"/cmd/stream.start", 1, func(_ paho.Client, msg paho.Message) {
		var cmd struct{ URL string }
		if err := json.Unmarshal(msg.Payload(), &cmd); err != nil {
			return
		}
		u, err := url.Parse(cmd.URL)
		mu.Lock()
		defer mu.Unlock()
		if err != nil || push != nil {
			pushErr = err
			return
		}
		u.User = url.UserPassword(d.ID, d.MQTTSecret)
		push = exec.Command(ffmpeg, "-hide_banner", "-loglevel", "warning", "-nostdin", "-re",
			"-f", "lavfi", "-i", "testsrc=size=640x360:rate=25", "-t", "40",
			"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", "25",
			"-f", "rtsp", "-rtsp_transport", "tcp", u.String())
		pushErr = push.Start()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	publish(t, c, "fleet/v1/"+d.ID+"/event", fmt.Sprintf(`{"ts":%d,"type":"sos","detail":"求助"}`, time.Now().UnixMilli()))
	var alerts struct {
		Items []struct{ ID, Kind, DeviceID string } `json:"items"`
	}
	eventually(t, "the SOS alert", func() bool {
		return a.do("GET", "/api/v1/alerts", nil, &alerts) == 200 && len(alerts.Items) == 1
	})
	reason := "SOS alert " + alerts.Items[0].ID

	path := "/api/v1/devices/" + d.ID + "/live/recording"
	var st video.RecordingState
	eventually(t, "the SOS recording", func() bool {
		a.do("GET", path, nil, &st)
		return st.State == video.RecordingActive
	})
	mu.Lock()
	if push == nil || pushErr != nil {
		t.Fatalf("the recorder was not told to push, or could not: %v", pushErr)
	}
	mu.Unlock()
	if st.By != "system" || st.Reason != reason {
		t.Errorf("recording = %+v, want by system for %q", st, reason)
	}
	// A commander's request meanwhile finds the device being recorded.
	if code := a.do("POST", path, map[string]string{"reason": "another"}, nil); code != 409 {
		t.Errorf("second recording: %d, want 409", code)
	}
	time.Sleep(3 * time.Second) // some footage: the segment closes on the stop
	if code := a.do("DELETE", path, nil, &st); code != 200 || st.State != video.RecordingStopped || st.Segments < 1 {
		t.Fatalf("stop: %d %+v", code, st)
	}

	var items struct{ Items []fleet.EvidenceItem }
	if code := a.do("GET", "/api/v1/evidence?device="+d.ID, nil, &items); code != 200 || len(items.Items) != st.Segments {
		t.Fatalf("evidence of the device: %d, %d items, want %d", code, len(items.Items), st.Segments)
	}
	it := items.Items[0]
	var custody struct{ Entries []fleet.CustodyEntry }
	if code := a.do("GET", "/api/v1/evidence/"+it.ID+"/custody", nil, &custody); code != 200 || len(custody.Entries) == 0 {
		t.Fatalf("custody: %d", code)
	}
	if e := custody.Entries[0]; it.Source != fleet.EvidenceLive || e.Action != fleet.CustodyIngest || e.Actor != "system" || e.Reason != reason {
		t.Errorf("item %+v, custody begins with %+v; want live, ingested by the system for %q", it, e, reason)
	}
	var audit struct{ Items []fleet.AuditEntry }
	a.do("GET", "/api/v1/audit?entity=device&entity_id="+d.ID+"&actor=system", nil, &audit)
	found := false
	for _, e := range audit.Items {
		found = found || (e.Action == "video.record_start" && strings.Contains(string(e.After), alerts.Items[0].ID))
	}
	if !found {
		t.Errorf("no video.record_start by the system in the audit log: %+v", audit.Items)
	}
}
