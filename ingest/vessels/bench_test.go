package vessels

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lawfleet/fleet/ingest/series"
)

// discard is a series.Writer that keeps nothing, so that the benchmark
// measures the tracker alone.
type discard struct{}

func (discard) Write(context.Context, []series.Point) error { return nil }

// BenchmarkHandleNMEA measures HandleNMEA, one MQTT payload per operation,
// on one goroutine:
//
//	go test -run x -bench HandleNMEA -benchmem -cpu 1 ./ingest/vessels
//
// "position" is one class A report (types 1-3 of the reference cases) per
// payload, "position-batch10" ten per payload, "mixed" one line of every
// reference case that decodes (all types, 1-3 fragments). Each payload
// is received 11 s after the one before, so that no position is a
// duplicate and every one becomes a history point. cpu-ns/op is the
// process's CPU time per operation (garbage collection included), which a
// loaded machine disturbs less than the wall-clock ns/op.
func BenchmarkHandleNMEA(b *testing.B) {
	var mixed, position []string
	for _, c := range loadCases(b) {
		if c.Expect != "decode" {
			continue
		}
		mixed = append(mixed, c.Sentences...)
		if c.Type >= 1 && c.Type <= 3 {
			position = append(position, c.Sentences...)
		}
	}
	var batch10 []string
	for i := 0; i+10 <= len(position); i += 10 {
		batch10 = append(batch10, strings.Join(position[i:i+10], "\r\n"))
	}
	for _, bc := range []struct {
		name     string
		payloads []string
		lines    int // per payload
	}{{"position", position, 1}, {"position-batch10", batch10, 10}, {"mixed", mixed, 1}} {
		b.Run(bc.name, func(b *testing.B) {
			tr, err := New(Config{}, Deps{Writer: discard{}})
			if err != nil {
				b.Fatal(err)
			}
			payloads := make([][]byte, len(bc.payloads))
			for i, p := range bc.payloads {
				payloads[i] = []byte(p)
			}
			ctx, at := context.Background(), testNow
			n := 0
			b.ReportAllocs()
			cpu0, cpuOK := cpuTime()
			for b.Loop() {
				if err := tr.HandleNMEA(ctx, "dev_ais1", payloads[n%len(payloads)], at); err != nil {
					b.Fatal(err)
				}
				n++
				at = at.Add(11 * time.Second)
			}
			b.ReportMetric(float64(n*bc.lines)/b.Elapsed().Seconds(), "sentences/s")
			if cpu1, ok := cpuTime(); ok && cpuOK {
				b.ReportMetric(float64(cpu1-cpu0)/float64(n), "cpu-ns/op")
			}
		})
	}
}
