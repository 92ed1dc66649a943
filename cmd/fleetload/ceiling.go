package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lawfleet/fleet/internal/loadproc"
)

// ceilingConfig is the influx-ceiling mode: line protocol straight to
// InfluxDB, as fast as it takes it.
type ceilingConfig struct {
	common
	writers  int
	batch    int
	devices  int
	duration time.Duration
	warmup   time.Duration
}

// ceilingDeviceID is the id of fake device i, shaped like the register's
// ids (dev_ and 26 hex digits), so tags cost what real ones do.
func ceilingDeviceID(i int) string { return fmt.Sprintf("dev_%026x", 0x19a0000000000+i) }

const ceilingUnit = "unit_019a2b3c4d5e6f708192a3b4c5"

// runCeiling measures InfluxDB alone: writers post batches of line
// protocol back to back (closed loop: the ceiling is what it takes at
// most) for warmup + duration; only the duration counts.
func runCeiling(ctx context.Context, cfg ceilingConfig, out io.Writer) error {
	env, err := openInflux(ctx, cfg.common)
	if err != nil {
		return err
	}
	defer env.close()
	in := newInfluxClient(env.influx.url, cfg.writers)

	ids := make([]string, cfg.devices)
	for i := range ids {
		ids[i] = ceilingDeviceID(i)
	}
	var next atomic.Int64 // point sequence: device = seq % devices
	var points, batches, failures atomic.Int64
	var firstErr atomic.Value

	fmt.Fprintf(out, "influx-ceiling: %d writer(s), batches of %d, %d device tags, ≥ %s warm-up + %s; load average %s\n",
		cfg.writers, cfg.batch, cfg.devices, cfg.warmup, cfg.duration, loadproc.Loadavg())
	meter := newCPUMeter(env.pids())
	loadBefore := loadproc.Loadavg()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range cfg.writers {
		wg.Go(func() {
			buf := make([]byte, 0, cfg.batch*300)
			for runCtx.Err() == nil {
				buf = buf[:0]
				first := next.Add(int64(cfg.batch)) - int64(cfg.batch)
				ns := time.Now().UnixNano()
				for j := range int64(cfg.batch) {
					seq := first + j
					d := int(seq % int64(cfg.devices))
					s := makeSample(d, seq/int64(cfg.devices), 0)
					// Distinct times per device: a repeated series and
					// time would overwrite, not add.
					buf = s.appendLine(buf, ids[d], ceilingUnit, ns+j)
				}
				if err := in.write(runCtx, buf); err != nil {
					if runCtx.Err() == nil {
						failures.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
					continue
				}
				points.Add(int64(cfg.batch))
				batches.Add(1)
			}
		})
	}
	// The warm-up lasts at least until every device has a series: creating
	// one costs InfluxDB several times a write to it, and the ceiling is
	// about the steady state, when all series exist.
	began := time.Now()
	var p0, p1 int64
	var t0, t1 time.Time
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var werr error
	for t1.IsZero() && werr == nil {
		select {
		case <-ctx.Done():
			werr = ctx.Err()
		case <-tick.C:
			meter.sample()
			now := time.Now()
			switch {
			case t0.IsZero() && now.Sub(began) >= cfg.warmup && points.Load() >= int64(cfg.devices):
				p0, t0 = points.Load(), now
				meter.reset()
				fmt.Fprintf(out, "warm after %s (%d points)\n", now.Sub(began).Round(time.Second), p0)
			case t0.IsZero() && now.Sub(began) > cfg.warmup+10*time.Minute:
				werr = fmt.Errorf("not warm after %s: %d points written", now.Sub(began).Round(time.Second), points.Load())
			case !t0.IsZero() && now.Sub(t0) >= cfg.duration:
				p1, t1 = points.Load(), now
			}
		}
	}
	uses, busy := meter.read([]string{"fleetload", "influxd"})
	cancel()
	wg.Wait()
	if werr != nil {
		return werr
	}
	rate := float64(p1-p0) / t1.Sub(t0).Seconds()
	fmt.Fprintf(out, "\n%-28s %12.0f points/s  (%d points in %.1f s; %d batches in all, %d failed)\n",
		"InfluxDB alone", rate, p1-p0, t1.Sub(t0).Seconds(), batches.Load(), failures.Load())
	printUses(out, uses, busy)
	fmt.Fprintf(out, "load average: before %s, after %s\n", loadBefore, loadproc.Loadavg())
	if e, _ := firstErr.Load().(error); e != nil {
		fmt.Fprintf(out, "first write error: %v\n", e)
	}
	iu := use(uses, "influxd")
	fmt.Fprintf(out, "\nRESULT mode=influx-ceiling writers=%d batch=%d devices=%d points_per_s=%.0f influxd_cores=%.2f influxd_us_per_point=%.0f influxd_rss_mb=%.0f failed_batches=%d load=%q\n",
		cfg.writers, cfg.batch, cfg.devices, rate, iu.cores, iu.cores*1e6/max(rate, 1), iu.peak, failures.Load(), loadproc.Loadavg())
	return nil
}

func printUses(out io.Writer, uses []procUse, machineBusy float64) {
	fmt.Fprintf(out, "%-12s %10s %14s %10s %12s\n", "process", "CPU cores", "waiting for CPU", "RSS MB", "peak RSS MB")
	var ours float64
	for _, u := range uses {
		fmt.Fprintf(out, "%-12s %10.2f %14.2f %10.0f %12.0f\n", u.name, u.cores, u.wait, u.rssMB, u.peak)
		ours += u.cores
	}
	fmt.Fprintf(out, "%-12s %10.2f   (machine busy %.2f of %d cores, minus the processes above)\n", "others",
		max(machineBusy-ours, 0), machineBusy, runtime.NumCPU())
}
