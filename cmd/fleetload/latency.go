package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// tracker follows the messages of a few marker devices from publish to
// queryable: senders note each (marker, ts) they publish; the poller asks
// InfluxDB for the markers' new points and notes when each first shows.
// ts is the message's due time in milliseconds, which the payload
// carries and InfluxDB stores as the point's time.
type tracker struct {
	ids    []string       // marker device ids
	index  map[string]int // id → marker
	window [2]time.Time   // only messages due inside count as samples

	mu        sync.Mutex
	pending   map[markerMsg]struct{}
	latencies []time.Duration
	seen      int
}

type markerMsg struct {
	marker int
	ts     int64
}

func newTracker(ids []string, window [2]time.Time) *tracker {
	t := &tracker{ids: ids, index: map[string]int{}, window: window, pending: map[markerMsg]struct{}{}}
	for i, id := range ids {
		t.index[id] = i
	}
	return t
}

func (t *tracker) published(marker int, ts int64) {
	t.mu.Lock()
	t.pending[markerMsg{marker, ts}] = struct{}{}
	t.mu.Unlock()
}

// observe notes that the marker's point at ts was queryable at at.
func (t *tracker) observe(id string, ts int64, at time.Time) {
	m, ok := t.index[id]
	if !ok {
		return
	}
	key := markerMsg{m, ts}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.pending[key]; !ok {
		return // seen already: the poll window overlaps
	}
	delete(t.pending, key)
	t.seen++
	due := time.UnixMilli(ts)
	if !due.Before(t.window[0]) && due.Before(t.window[1]) {
		t.latencies = append(t.latencies, at.Sub(due))
	}
}

// oldest is the earliest pending ts, and whether there is one.
func (t *tracker) oldest() (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var o int64
	found := false
	for k := range t.pending {
		if !found || k.ts < o {
			o, found = k.ts, true
		}
	}
	return o, found
}

// result is the latency samples, the marker messages seen and those
// still pending.
func (t *tracker) result() (lat []time.Duration, seen, pending int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]time.Duration(nil), t.latencies...), t.seen, len(t.pending)
}

// markerQuery asks for the markers' points since fromMs.
func markerQuery(ids []string, fromMs int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, `SELECT "lat" FROM "telemetry" WHERE time >= %dms AND (`, fromMs)
	for i, id := range ids {
		if i > 0 {
			b.WriteString(" OR ")
		}
		fmt.Fprintf(&b, `"device" = '%s'`, id)
	}
	b.WriteString(`) GROUP BY "device"`)
	return b.String()
}

// poll asks InfluxDB every interval for the markers' points from the
// oldest one still pending (at most maxAge back), until ctx is done. A
// point counts as queryable when the answer that holds it has arrived: the
// figure errs on the high side, by up to one interval plus the query's
// own time. Query failures are counted, not fatal.
func (t *tracker) poll(ctx context.Context, in *influxClient, interval, maxAge time.Duration) (queries, failures int) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return queries, failures
		case <-tick.C:
		}
		from, ok := t.oldest()
		if !ok {
			continue
		}
		from = max(from, time.Now().Add(-maxAge).UnixMilli())
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ss, err := in.query(qctx, markerQuery(t.ids, from))
		cancel()
		at := time.Now()
		queries++
		if err != nil {
			failures++
			continue
		}
		for _, s := range ss {
			id := s.Tags["device"]
			for _, row := range s.Values {
				if len(row) == 0 {
					continue
				}
				n, ok := row[0].(json.Number)
				if !ok {
					continue
				}
				if ts, err := n.Int64(); err == nil {
					t.observe(id, ts, at)
				}
			}
		}
	}
}
