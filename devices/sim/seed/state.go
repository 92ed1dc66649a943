package seed

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

// State is what a seed run leaves for later runs: which province it made
// and, for every device, its id and the MQTT secret the service showed
// once. It is a secret itself, so it is written with mode 0600.
type State struct {
	Version      int           `json:"version"`
	API          string        `json:"api"`
	ProvinceCode string        `json:"province_code"`
	ProvinceID   string        `json:"province_id"`
	Seed         uint64        `json:"seed"`
	SeededAt     time.Time     `json:"seeded_at"`
	Complete     bool          `json:"complete"` // false while a seed is under way or if it failed
	Devices      []StateDevice `json:"devices"`
	Users        []string      `json:"users,omitempty"`
}

// StateDevice is one device's identity and credentials.
type StateDevice struct {
	ID         string             `json:"id"`
	Kind       fleet.DeviceKind   `json:"kind"`
	Serial     string             `json:"serial"`
	UnitCode   string             `json:"unit_code"`
	Status     fleet.DeviceStatus `json:"status"`
	MQTTSecret string             `json:"mqtt_secret"`
	MMSI       string             `json:"mmsi,omitempty"`
	RTSPURL    string             `json:"rtsp_url,omitempty"`
	Holder     string             `json:"holder,omitempty"` // badge of the officer holding it
	Firmware   string             `json:"firmware,omitempty"`
}

const stateVersion = 1

// ErrNoState is returned by LoadState when the file does not exist.
var ErrNoState = errors.New("no state file")

// LoadState reads a state file.
func LoadState(path string) (State, error) {
	var s State
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, fmt.Errorf("%s: %w", path, ErrNoState)
	} else if err != nil {
		return s, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read state %s: %w", path, err)
	}
	if s.Version != stateVersion {
		return s, fmt.Errorf("read state %s: version %d, want %d", path, s.Version, stateVersion)
	}
	return s, nil
}

// SaveState writes s to path atomically (a crash leaves the old file or
// the new one, never half of one), readable only by its owner.
func SaveState(path string, s State) error {
	s.Version = stateVersion
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write state: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}
