package influx

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/ingest/series"
)

func TestCollector(t *testing.T) {
	s, err := New(Config{URL: "http://127.0.0.1:1", Bucket: "b", SpoolDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Write(t.Context(), trackPointsN(3)); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(s.Collector()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		got[mf.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	if len(got) != 10 {
		t.Fatalf("%d metrics: %v", len(got), got)
	}
	if got["fleet_influx_spool_unacked_batches"] != 1 || got["fleet_influx_spool_bytes"] == 0 {
		t.Fatalf("spool gauges: %v", got)
	}
}

func trackPointsN(n int) []series.Point { return trackPoints("d", start, 0, n) }
