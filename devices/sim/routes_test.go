package sim

import (
	"math"
	"testing"
)

func TestGeometry(t *testing.T) {
	tests := []struct {
		name       string
		a, b       LatLon
		distM, brg float64
	}{
		{"due north 1°", LatLon{30, 114}, LatLon{31, 114}, 111_195, 0},
		{"due east at 30°N", LatLon{30, 114}, LatLon{30, 114.01}, 963, 90},
		{"due south", LatLon{30.6, 114.3}, LatLon{30.5, 114.3}, 11_120, 180},
		{"Wuhan to Yichang", Wuhan, LatLon{30.692, 111.286}, 289_000, 272},
	}
	for _, tt := range tests {
		d, b := distanceM(tt.a, tt.b), bearingDeg(tt.a, tt.b)
		if math.Abs(d-tt.distM) > tt.distM*0.01 || math.Abs(b-tt.brg) > 1 {
			t.Errorf("%s: %.0f m at %.1f°, want %.0f m at %.0f°", tt.name, d, b, tt.distM, tt.brg)
		}
		back := offsetM(tt.a, (tt.b.Lat-tt.a.Lat)*earthRadiusM*math.Pi/180, 0)
		if math.Abs(back.Lat-tt.b.Lat) > 1e-9 {
			t.Errorf("%s: offsetM north gives %v", tt.name, back)
		}
	}
}

// TestCursor walks a three-point line past its end and back.
func TestCursor(t *testing.T) {
	line := []LatLon{{30, 114}, {30.01, 114}, {30.01, 114.01}} // ~1112 m north, then ~963 m east
	leg1, leg2 := distanceM(line[0], line[1]), distanceM(line[1], line[2])
	tests := []struct {
		walkM   float64
		want    LatLon
		heading float64
	}{
		{leg1 / 2, lerp(line[0], line[1], 0.5), 0},
		{leg1 + leg2/2, lerp(line[1], line[2], 0.5), 90},
		{leg1 + leg2 + leg2/4, lerp(line[2], line[1], 0.25), 270}, // turned round at the end
		{2*(leg1+leg2) + leg1/4, lerp(line[0], line[1], 0.25), 0}, // and at the start
	}
	for _, tt := range tests {
		c := cursor{line: line}
		// In small steps, as a device moves.
		for left := tt.walkM; left > 0; left -= 37 {
			c.advance(math.Min(37, left))
		}
		got, heading := c.position()
		if distanceM(got, tt.want) > 1 || math.Abs(heading-tt.heading) > 1 {
			t.Errorf("after %.0f m: at %v heading %.0f, want %v heading %.0f", tt.walkM, got, heading, tt.want, tt.heading)
		}
	}
}

func TestAreaAround(t *testing.T) {
	wuhan := areaAround(LatLon{30.6, 114.31})
	if wuhan.roads[0][0] != wuhanRoads[0][0] || wuhan.waters[0][0] != waterways[0].lines[0][0] {
		t.Error("a Wuhan origin does not get Wuhan's own routes")
	}
	yichang := LatLon{30.692, 111.286}
	a := areaAround(yichang)
	if distanceM(a.roads[0][0], yichang) > 20_000 || distanceM(a.waters[0][0], yichang) > 20_000 {
		t.Errorf("Yichang's routes are not around Yichang: road %v, water %v", a.roads[0][0], a.waters[0][0])
	}
}
