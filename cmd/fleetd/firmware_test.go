package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/lawfleet/fleet/devices/sim"
	"github.com/lawfleet/fleet/devices/sim/paho"
	"github.com/lawfleet/fleet/fleet"
)

// TestFirmwareRolloutToSimulatedDevice runs what a manager watches in the
// demo: an image uploaded to fleetd goes out in a campaign over MQTT to a
// device of the simulator, which downloads, verifies, installs and comes
// back on the new version.
func TestFirmwareRolloutToSimulatedDevice(t *testing.T) {
	m := startMain(t, "-public-host", "127.0.0.1")
	a, d := register(t, m)
	a.do("PATCH", "/api/v1/devices/"+d.ID, map[string]any{"model": "DSJ-V8", "firmware_version": "1.0.0"}, nil)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := sim.New(sim.Config{Firmware: &sim.FirmwareConfig{Trusted: []ed25519.PublicKey{m.fwPublic}}},
		[]sim.Device{{ID: d.ID, Secret: d.MQTTSecret, Kind: fleet.KindRecorder, Role: sim.Docked, Firmware: "1.0.0",
			Origin: sim.Wuhan}}, &paho.Dialer{URL: "tcp://" + m.MQTTAddr()}, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	eventually(t, "simulated device online", func() bool { return s.Stats().Online == 1 })

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("model", "DSJ-V8")
	mw.WriteField("version", "1.1.0")
	mw.WriteField("release_notes", "修复GPS漂移")
	fw, _ := mw.CreateFormFile("file", "dsj-v8-1.1.0.bin")
	fw.Write(bytes.Repeat([]byte("firmware image "), 20_000))
	mw.Close()
	req, _ := http.NewRequest("POST", a.base+"/api/v1/firmware/images", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var img struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&img)
	resp.Body.Close()
	if resp.StatusCode != 201 || img.ID == "" {
		t.Fatalf("upload image: %d", resp.StatusCode)
	}
	zero, none := int64(0), 0.5
	var camp map[string]any
	if code := a.do("POST", "/api/v1/firmware/campaigns", map[string]any{"name": "GPS fix", "image_id": img.ID,
		"unit_id": d.UnitID, "waves": []float64{100}, "soak_s": &zero, "max_failure_rate": &none}, &camp); code != 201 {
		t.Fatalf("create campaign: %d %v", code, camp)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		var got fleet.Device
		a.do("GET", "/api/v1/devices/"+d.ID, nil, &got)
		if got.FirmwareVersion == "1.1.0" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("device still on %q", got.FirmwareVersion)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
