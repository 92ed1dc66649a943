package influx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lawfleet/fleet/ingest/series"
)

// Track returns the device's positions in [from, to), oldest first. When
// the span holds more than maxPoints positions it is cut into maxPoints
// equal time buckets starting at from, and each bucket contributes its last
// position (a real fix with its real time, not an average that could lie
// off the road) with the speed and heading of that same instant, as the
// embedded store does.
//
// InfluxDB sends the rows pivoted (one per instant) and the buckets are
// chosen here: Flux 0.65 in InfluxDB 1.8 has no window pushdown and its
// window() costs about 8 µs per row plus a table per bucket, so windowing a
// day of one device (17,280 fixes) into 3,000 buckets took 3 s where the
// pivot of the whole day took 0.5 s. When the span holds more than
// thinAbove positions per bucket, the rows are first thinned on the server
// to about four per bucket with sample() (every k-th fix; it is columnar and
// cheap), and each bucket gives the last fix that was kept: a real fix near
// its bucket's end. Measured on the 2-core test machine, a month at one fix
// per 5 s (518,400 positions) to 1,000 points: 47 s with window(), about
// 1 s thinned. InfluxQL's GROUP BY time() is fast as well but reports bucket
// start times instead of the fixes' own. Speed and heading survive thinning
// when the device sends them with every fix (sampled rows then line up).
//
// The Flux is the subset InfluxDB 1.8.10 runs: range (whose stop 1.8
// includes; see trackSelect), filter, count, sample, keep, group, pivot,
// sort.
func (s *Store) Track(ctx context.Context, deviceID string, from, to time.Time, maxPoints int) ([]series.TrackPoint, error) {
	if err := validTrack(deviceID, from, to, maxPoints); err != nil {
		return nil, err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}

	sel := s.trackSelect(deviceID, from, to)
	n, err := s.count(ctx, sel)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return []series.TrackPoint{}, nil
	}
	q := sel
	var every time.Duration // 0: every position fits
	if n > int64(maxPoints) {
		every = bucketWidth(from, to, maxPoints)
		if n > thinAbove*int64(maxPoints) {
			k := n / (4 * int64(maxPoints))
			q += fmt.Sprintf(`
  |> sample(n: %d, pos: %d)`, k, k-1)
		}
	}
	// One table, one row per instant, whatever tags (unit, kind) the
	// device had over the span.
	q += `
  |> keep(columns: ["_time", "_field", "_value"])
  |> group()
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> sort(columns: ["_time"])`

	res, err := s.query.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("influx: track query: %w", err)
	}
	defer res.Close()
	out := make([]series.TrackPoint, 0, min(n, int64(maxPoints)))
	lastBucket := int64(-1)
	for res.Next() {
		r := res.Record()
		lat, okLat := asFloat(r.ValueByKey("lat"))
		lon, okLon := asFloat(r.ValueByKey("lon"))
		if !okLat || !okLon {
			continue // speed or heading at an instant without a position
		}
		tp := series.TrackPoint{Time: r.Time(), Lat: lat, Lon: lon}
		if tp.Time.Before(from) || !tp.Time.Before(to) {
			continue // not expected; keeps the contract if a server differs
		}
		if v, ok := asFloat(r.ValueByKey("speed_kmh")); ok {
			tp.SpeedKmh = &v
		}
		if v, ok := asFloat(r.ValueByKey("heading_deg")); ok {
			tp.HeadingDeg = &v
		}
		if every > 0 {
			// Rows come in time order: a later fix in the same bucket
			// replaces the earlier one.
			b := int64(tp.Time.Sub(from) / every)
			if b == lastBucket {
				out[len(out)-1] = tp
				continue
			}
			lastBucket = b
		}
		out = append(out, tp)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("influx: track query: %w", err)
	}
	return out, nil
}

// thinAbove is the number of positions per bucket above which Track has
// InfluxDB thin the rows before sending them (see Track).
const thinAbove = 8

// trackSelect is the common head of the track queries. InfluxDB 1.8's
// Flux treats range's stop as inclusive (checked against 1.8.10), so stop
// is to - 1 ns, which makes it [from, to) at InfluxDB's nanosecond
// resolution; a filter on _time would do the same at a cost per row.
func (s *Store) trackSelect(deviceID string, from, to time.Time) string {
	if stop := to.Add(-time.Nanosecond); stop.After(from) {
		to = stop // a 1 ns span keeps its stop; Track drops a point at to
	}
	return fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %s and r.device == %s and
      (r._field == "lat" or r._field == "lon" or r._field == "speed_kmh" or r._field == "heading_deg"))`,
		fluxString(s.cfg.Bucket), from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano),
		fluxString(series.Telemetry), fluxString(deviceID))
}

// count returns how many positions (lat values) the selection has.
func (s *Store) count(ctx context.Context, sel string) (int64, error) {
	res, err := s.query.Query(ctx, sel+`
  |> filter(fn: (r) => r._field == "lat")
  |> count()
  |> group()
  |> sum()`)
	if err != nil {
		return 0, fmt.Errorf("influx: track count: %w", err)
	}
	defer res.Close()
	var n int64
	for res.Next() {
		if v, ok := res.Record().Value().(int64); ok {
			n += v
		}
	}
	if err := res.Err(); err != nil {
		return 0, fmt.Errorf("influx: track count: %w", err)
	}
	return n, nil
}

// validTrack checks Track's arguments; both stores share the rules.
func validTrack(deviceID string, from, to time.Time, maxPoints int) error {
	switch {
	case deviceID == "":
		return errors.New("influx: track: empty device id")
	case !to.After(from):
		return fmt.Errorf("influx: track: empty span %s..%s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	case maxPoints <= 0:
		return fmt.Errorf("influx: track: maxPoints must be positive, got %d", maxPoints)
	}
	return nil
}

// bucketWidth is the smallest whole-nanosecond width that cuts [from, to)
// into at most maxPoints buckets.
func bucketWidth(from, to time.Time, maxPoints int) time.Duration {
	span := to.Sub(from)
	w := span / time.Duration(maxPoints)
	if w*time.Duration(maxPoints) < span {
		w++
	}
	return max(w, 1)
}

// fluxString quotes s as a Flux string literal. Flux 0.65 interpolates
// "${…}", so "$" before "{" is escaped too.
func fluxString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '$':
			if i+1 < len(s) && s[i+1] == '{' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func asFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case int64:
		return float64(v), true
	}
	return 0, false
}
