package sim

import (
	"math"
	"testing"

	"github.com/lawfleet/fleet/devices/ais"
)

// TestAIVDO encodes position reports and reads them back with the
// service's own AIS decoder.
func TestAIVDO(t *testing.T) {
	tests := []positionReport{
		{mmsi: 413000001, moving: true, lat: 30.5501, lon: 114.2883, speedKn: 10.4, courseDeg: 45.3, headingDeg: 45, second: 12},
		{mmsi: 413999999, lat: 30.335, lon: 112.24, courseDeg: 359.96, headingDeg: 359, second: 59},
		{mmsi: 412345678, moving: true, lat: -33.8688, lon: -151.2093, speedKn: 150, courseDeg: 180, headingDeg: 180},
	}
	for _, r := range tests {
		line := r.aivdo()
		msgs, err := ais.NewDecoder(ais.Config{}).Feed(line)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("%s: %v, %d messages", line, err, len(msgs))
		}
		m := msgs[0]
		lat, lon, ok := m.Position()
		if m.Type != 1 || !m.Own || m.MMSI != r.mmsi || !ok {
			t.Fatalf("%s: decoded %+v", line, m)
		}
		if math.Abs(lat-r.lat) > 1e-5 || math.Abs(lon-r.lon) > 1e-5 {
			t.Errorf("%s: position %f,%f, want %f,%f", line, lat, lon, r.lat, r.lon)
		}
		wantKn := math.Min(102.2, math.Round(r.speedKn*10)/10)
		if sog, ok := m.SpeedKnots.Get(); !ok || math.Abs(sog-wantKn) > 0.05 {
			t.Errorf("%s: speed %v, want %v", line, m.SpeedKnots, wantKn)
		}
		if h, ok := m.HeadingDeg.Get(); !ok || int(h) != r.headingDeg {
			t.Errorf("%s: heading %v, want %d", line, m.HeadingDeg, r.headingDeg)
		}
		if st, _ := m.Status.Get(); (st == 0) != r.moving {
			t.Errorf("%s: status %d, moving %v", line, st, r.moving)
		}
	}
}
