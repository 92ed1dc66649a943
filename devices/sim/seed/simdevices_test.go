package seed

import (
	"testing"

	"github.com/lawfleet/fleet/devices/sim"
)

func TestPlace(t *testing.T) {
	tests := []struct {
		unit   string
		origin sim.LatLon
	}{
		{"420102-01", sim.LatLon{Lat: 30.593, Lon: 114.305}},
		{"420100", sim.LatLon{Lat: 30.593, Lon: 114.305}},
		{"420506", sim.LatLon{Lat: 30.692, Lon: 111.286}},
		{"421087-02", sim.LatLon{Lat: 30.335, Lon: 112.240}},
		{"420000", sim.Wuhan},
	}
	for _, tt := range tests {
		origin, home := place(tt.unit)
		if origin != tt.origin {
			t.Errorf("place(%s) origin %v, want %v", tt.unit, origin, tt.origin)
		}
		if _, again := place(tt.unit); again != home {
			t.Errorf("place(%s) is not stable", tt.unit)
		}
		dLat, dLon := (home.Lat-origin.Lat)*111, (home.Lon-origin.Lon)*96
		if km := dLat*dLat + dLon*dLon; km < 0.8*0.8 || km > 6.5*6.5 {
			t.Errorf("place(%s): station %v is not 1–6 km from the centre", tt.unit, home)
		}
	}
}
