package seed

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if _, err := LoadState(path); !errors.Is(err, ErrNoState) {
		t.Fatalf("LoadState of a missing file: %v, want ErrNoState", err)
	}
	want := State{Version: stateVersion, API: "http://127.0.0.1:8080", ProvinceCode: ProvinceCode, ProvinceID: "unit_1",
		Seed: 7, SeededAt: time.Date(2026, 3, 15, 1, 2, 3, 0, time.UTC), Complete: true,
		Devices: []StateDevice{{ID: "dev_1", Kind: fleet.KindAISUnit, Serial: "AIS2600001", UnitCode: "420102-01",
			Status: fleet.StatusInStock, MQTTSecret: "s3cret", MMSI: "413000001"}},
		Users: []string{"hb_auditor"}}
	for range 2 { // the second save replaces the first
		if err := SaveState(path, want); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadState = %+v, want %+v", got, want)
	}
	if left, _ := filepath.Glob(path + ".*.tmp"); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestLoadStateBad(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not json", "{"},
		{"other version", `{"version": 99}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadState(path); err == nil || errors.Is(err, ErrNoState) {
				t.Errorf("LoadState: %v, want a read error", err)
			}
		})
	}
}
