package vessels

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/devices/ais"
)

// Kinds of bad input, the label of fleet_ais_bad_input_total: the
// decoder's error kinds, then what the tracker itself drops.
const (
	kindChecksum = iota
	kindMalformed
	kindTruncated
	kindUnknownType
	kindOutOfOrder
	kindOrphan
	kindIncomplete
	kindEvicted
	kindExpired
	kindSourceEvicted // fragments lost with a decoder evicted or a connection closed
	kindLineTooLong   // a listener line over MaxLineBytes
	kinds
)

var kindNames = [kinds]string{"checksum", "malformed", "truncated", "unknown_type", "out_of_order",
	"orphan", "incomplete", "evicted", "expired", "source_evicted", "line_too_long"}

// statKinds reads each decoder error count from ais.Stats, in kind order.
var statKinds = [kindExpired + 1]func(*ais.Stats) uint64{
	func(s *ais.Stats) uint64 { return s.Checksum },
	func(s *ais.Stats) uint64 { return s.Malformed },
	func(s *ais.Stats) uint64 { return s.TooShort },
	func(s *ais.Stats) uint64 { return s.UnknownType },
	func(s *ais.Stats) uint64 { return s.OutOfOrder },
	func(s *ais.Stats) uint64 { return s.Orphan },
	func(s *ais.Stats) uint64 { return s.Incomplete },
	func(s *ais.Stats) uint64 { return s.Evicted },
	func(s *ais.Stats) uint64 { return s.Expired },
}

const (
	evictCap    = iota // to stay within MaxVessels
	evictSilent        // not heard for LiveFor
)

type metrics struct {
	lines          [transports]prometheus.Counter
	messages       prometheus.Counter
	undecoded      prometheus.Counter
	bad            [kinds]prometheus.Counter
	rejected       [reasons]prometheus.Counter // reasonNone is nil: nothing to count
	duplicates     prometheus.Counter
	points         prometheus.Counter
	pointsDropped  prometheus.Counter
	vesselsEvicted [2]prometheus.Counter
	sourcesEvicted prometheus.Counter
	connsRefused   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, t *Tracker) (*metrics, error) {
	lines := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleet_ais_lines_total", Help: "NMEA lines received, by transport (mqtt, udp, tcp).",
	}, []string{"transport"})
	bad := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleet_ais_bad_input_total", Help: "NMEA input skipped, by kind (checksum, truncated, unknown_type, orphan, out_of_order, …).",
	}, []string{"kind"})
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleet_ais_positions_rejected_total", Help: "Decoded positions not stored, by reason (truncated, no_position, out_of_range, bad_mmsi).",
	}, []string{"reason"})
	evicted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleet_ais_vessels_evicted_total", Help: "Vessels dropped from the live state, by reason (cap, silent).",
	}, []string{"reason"})
	m := &metrics{
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_ais_messages_total", Help: "AIS messages decoded.",
		}),
		undecoded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_ais_undecoded_total", Help: "AIS messages of defined types the decoder does not decode (binary, safety, …).",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_ais_positions_duplicate_total", Help: "Positions heard again within the dedup window (several receivers), not stored twice.",
		}),
		points: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_ais_points_written_total", Help: "Vessel positions accepted by the series writer.",
		}),
		pointsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_ais_points_dropped_total", Help: "Vessel positions the series writer refused.",
		}),
		sourcesEvicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_ais_sources_evicted_total", Help: "Decoders dropped to stay within MaxSources.",
		}),
		connsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_ais_connections_refused_total", Help: "TCP connections closed at once because MaxConns were open.",
		}),
	}
	for tr := range transports {
		m.lines[tr] = lines.WithLabelValues(transport(tr).String())
	}
	for k := range kinds {
		m.bad[k] = bad.WithLabelValues(kindNames[k])
	}
	for r := reasonNone + 1; r < reasons; r++ {
		m.rejected[r] = rejected.WithLabelValues(reasonNames[r])
	}
	m.vesselsEvicted[evictCap] = evicted.WithLabelValues("cap")
	m.vesselsEvicted[evictSilent] = evicted.WithLabelValues("silent")

	gauges := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "fleet_ais_vessels", Help: "Vessels in the live state.",
		}, func() float64 { return float64(t.state.len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "fleet_ais_sources", Help: "Decoders kept, one per source.",
		}, func() float64 { return float64(t.srcs.len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "fleet_ais_connections", Help: "TCP connections being served.",
		}, func() float64 { return float64(len(t.conns)) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "fleet_ais_directory_errors_total", Help: "Failed reads of the register's AIS units (the last list is kept).",
		}, func() float64 { return float64(t.dir.failures.Load()) }),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range append([]prometheus.Collector{lines, bad, rejected, evicted, m.messages, m.undecoded,
		m.duplicates, m.points, m.pointsDropped, m.sourcesEvicted, m.connsRefused}, gauges...) {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("vessels: register metrics: %w", err)
		}
	}
	return m, nil
}

// decoded adds what a decoder counted since last (the previous Stats of
// the source) and moves last on.
func (m *metrics) decoded(tr transport, last, now *ais.Stats) {
	if d := now.Lines - last.Lines; d > 0 {
		m.lines[tr].Add(float64(d))
	}
	if d := now.Messages - last.Messages; d > 0 {
		m.messages.Add(float64(d))
	}
	if d := now.Undecoded - last.Undecoded; d > 0 {
		m.undecoded.Add(float64(d))
	}
	for k, get := range statKinds {
		if d := get(now) - get(last); d > 0 {
			m.bad[k].Add(float64(d))
		}
	}
	*last = *now
}
