package tsembed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lawfleet/fleet/ingest/series"
)

// Track returns the device's positions in [from, to), oldest first, with
// the same rules as the InfluxDB store: beyond maxPoints positions the
// span is cut into maxPoints equal buckets from from, and each bucket gives
// its last position with the speed and heading of that same row.
func (s *Store) Track(ctx context.Context, deviceID string, from, to time.Time, maxPoints int) ([]series.TrackPoint, error) {
	switch {
	case deviceID == "":
		return nil, errors.New("tsembed: track: empty device id")
	case !to.After(from):
		return nil, fmt.Errorf("tsembed: track: empty span %s..%s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	case maxPoints <= 0:
		return nil, fmt.Errorf("tsembed: track: maxPoints must be positive, got %d", maxPoints)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	const where = `device = ? AND ts >= ? AND ts < ? AND lat IS NOT NULL AND lon IS NOT NULL`
	lo, hi := from.UnixNano(), to.UnixNano()
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM telemetry WHERE `+where, deviceID, lo, hi).Scan(&n); err != nil {
		return nil, fmt.Errorf("tsembed: track count: %w", err)
	}
	if n == 0 {
		return []series.TrackPoint{}, nil
	}
	q := `SELECT ts, lat, lon, speed_kmh, heading_deg FROM telemetry WHERE ` + where + ` ORDER BY ts`
	args := []any{deviceID, lo, hi}
	if n > int64(maxPoints) {
		// SQLite takes the bare columns of an aggregate query with max()
		// from the row that has the maximum: the bucket's last fix.
		q = `SELECT max(ts), lat, lon, speed_kmh, heading_deg FROM telemetry WHERE ` + where +
			` GROUP BY (ts - ?) / ? ORDER BY 1`
		args = append(args, lo, int64(bucketWidth(from, to, maxPoints)))
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("tsembed: track: %w", err)
	}
	defer rows.Close()
	out := make([]series.TrackPoint, 0, min(n, int64(maxPoints)))
	for rows.Next() {
		var ts int64
		var p series.TrackPoint
		if err := rows.Scan(&ts, &p.Lat, &p.Lon, &p.SpeedKmh, &p.HeadingDeg); err != nil {
			return nil, fmt.Errorf("tsembed: track: %w", err)
		}
		p.Time = time.Unix(0, ts).UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tsembed: track: %w", err)
	}
	return out, nil
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
