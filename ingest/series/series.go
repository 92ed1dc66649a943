// Package series is the boundary between ingest and the time-series stores:
// the Point that pipelines produce and the interfaces that InfluxDB and the
// embedded store implement. It imports only the standard library.
package series

import (
	"context"
	"time"
)

// Measurements written by ingest. Tags are chosen for the queries we run:
// per device (device), per unit subtree (unit) and per kind; everything else
// is a field, so tag cardinality stays at the number of devices.
const (
	Telemetry = "telemetry" // tags: device, unit, kind; fields: lat, lon, alt_m, speed_kmh, …
	Event     = "event"     // tags: device, unit, kind, type; fields: detail
	Vessel    = "vessel"    // tags: mmsi; fields: lat, lon, speed_kn, course_deg, heading_deg, …
)

// Point is one timestamped record. Field values are float64, int64, bool
// or string.
type Point struct {
	Measurement string
	Tags        map[string]string
	Fields      map[string]any
	Time        time.Time
}

// Writer accepts points for durable storage. Write must not block for long:
// implementations buffer, batch and retry, and return an error only when
// the points cannot be accepted at all (buffer full, closed).
type Writer interface {
	Write(ctx context.Context, points []Point) error
}

// TrackPoint is one position of a device's track.
type TrackPoint struct {
	Time       time.Time `json:"ts"`
	Lat        float64   `json:"lat"`
	Lon        float64   `json:"lon"`
	SpeedKmh   *float64  `json:"speed_kmh,omitempty"`
	HeadingDeg *float64  `json:"heading_deg,omitempty"`
}

// Querier reads history back.
type Querier interface {
	// Track returns the device's positions in [from, to), oldest first, at
	// most maxPoints of them: longer spans are downsampled by time bucket.
	Track(ctx context.Context, deviceID string, from, to time.Time, maxPoints int) ([]TrackPoint, error)
}
