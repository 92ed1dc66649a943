package sqlstore_test

import (
	"context"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
)

// BenchmarkCoverageProvince measures the whole-province coverage report
// (every unit of the tree, with milestones and projections) on a day, on
// a warm engine over a province-scale register (see generateProvince).
// Each iteration asks for another day of the last two years, so that no
// answer is a repeat. The cold load of the engine (every history row read
// from the database) is reported as the cold-load-ms metric. Generating
// the register takes a minute or two per database and is not timed.
//
//	go test ./fleet/sqlstore -run '^$' -bench CoverageProvince -benchtime 50x
//
// PostgreSQL runs when FLEET_TEST_POSTGRES_URL is set. To keep a generated
// register between runs, name it in FLEET_BENCH_COVERAGE_SQLITE (a file)
// or FLEET_BENCH_COVERAGE_POSTGRES (the URL of an existing database): an
// empty one is filled, a filled one reused.
// cpuTime is the CPU time the process has used, all threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var benchDSNEnv = map[string]string{"sqlite": "FLEET_BENCH_COVERAGE_SQLITE", "postgres": "FLEET_BENCH_COVERAGE_POSTGRES"}

func BenchmarkCoverageProvince(b *testing.B) {
	now := time.Date(2026, time.June, 15, 10, 0, 0, 0, fleet.Zone)
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			ctx := context.Background()
			dsn := os.Getenv(benchDSNEnv[dialect])
			if dsn == "" && dialect == "sqlite" {
				dsn = sqltest.SQLiteDSN(b)
			} else if dsn == "" {
				dsn = sqltest.PostgresDSN(b)
			}
			db := sqltest.Open(b, dsn)
			var units int
			if err := db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM units").Scan(&units); err != nil {
				b.Fatal(err)
			}
			st := genStats{ProvinceID: "p"}
			if units == 0 {
				start := time.Now()
				var err error
				if st, err = generateProvince(ctx, db, provinceScale(now)); err != nil {
					b.Fatal(err)
				}
				b.Logf("generated in %s: %s", time.Since(start).Round(time.Second), st)
			} else {
				b.Logf("reusing the register at $%s (%d units)", benchDSNEnv[dialect], units)
			}
			if dialect == "postgres" {
				// Fresh statistics, as autovacuum would have after the load.
				if _, err := db.SQL().ExecContext(ctx, "ANALYZE"); err != nil {
					b.Fatal(err)
				}
			}

			c := fleet.NewCoverage(db, fleet.CoverageConfig{Now: func() time.Time { return now }})
			start, cpu := time.Now(), cpuTime()
			if err := c.Reload(ctx); err != nil {
				b.Fatal(err)
			}
			cold, coldCPU := time.Since(start), cpuTime()-cpu
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			admin := fleet.User{ID: "bench", Username: "bench", Role: fleet.RoleAdmin}
			today := fleet.DateOf(now)
			first, err := c.Report(ctx, admin, fleet.CoverageQuery{UnitID: st.ProvinceID, Depth: fleet.CoverageDepthAll})
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("cold load %s; %s: eligible %d, equipped %d (rate %.3f), active %d, spare %d, milestone %.3f, projected %s (%s)",
				cold.Round(time.Millisecond), today, first.Eligible, first.Equipped, *first.Rate, first.Active, first.Spare,
				*first.Milestone, first.ProjectedFullDate, first.ProjectionNote)

			// The other answers, once each, for the record.
			t0 := time.Now()
			series, err := c.Series(ctx, admin, st.ProvinceID, fleet.Date{}, fleet.Date{})
			if err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			l, err := c.Actions(ctx, admin, fleet.ActionQuery{UnitID: st.ProvinceID, List: fleet.ActionUnequipped})
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("heap after load %d MB; 12-month series (%d points) %s; unequipped list (%d officers) %s",
				ms.HeapAlloc>>20, len(series.Points), t1.Sub(t0).Round(time.Millisecond), l.Total, time.Since(t1).Round(time.Millisecond))

			i, n := 0, 0
			cpu = cpuTime()
			for b.Loop() {
				n++
				at := today.AddDays(-(i * 37 % 730))
				i++
				r, err := c.Report(ctx, admin, fleet.CoverageQuery{UnitID: st.ProvinceID, At: at, Depth: fleet.CoverageDepthAll})
				if err != nil {
					b.Fatal(err)
				}
				if len(r.Children) != 17 {
					b.Fatalf("%d cities", len(r.Children))
				}
			}
			// The machine is shared: CPU time per report tells the work
			// apart from the wait for a core, which ns/op includes.
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(n), "cpu-ms/op")
			b.ReportMetric(float64(cold.Milliseconds()), "cold-load-ms")
			b.ReportMetric(float64(coldCPU.Milliseconds()), "cold-load-cpu-ms")
			b.ReportMetric(float64(ms.HeapAlloc>>20), "heap-MB")
		})
	}
}
