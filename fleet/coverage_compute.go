package fleet

import (
	"math"
	"runtime"
	"sync"
)

// unitCounts are the coverage figures of one unit on one day, over its
// whole subtree once aggregated.
type unitCounts struct {
	eligible, equipped, active, spare int32
}

// parallelMin is the number of officers and recorders from which countAt
// splits its pass between CPUs; below it, starting goroutines costs more
// than it saves. A variable so that tests can take both paths.
var parallelMin = 20_000

// Officer flags of one day in countAt.
const (
	holdsInService uint8 = 1 << iota // holds a recorder in service
	holdsActive                      // ... that checked in within the window
)

// countAt computes the figures of every unit on each of days (ascending)
// in one pass over the history: each entity's sorted history is walked
// once, whatever the number of days. window is the active window in days.
// Days before days[full] get eligible and equipped only (a trend needs no
// more); active and spare are counted from days[full] on. The pass is
// split between CPUs when there is enough to split.
func (ix *covIndex) countAt(days []day, window int32, full int) [][]unitCounts {
	k, nu, no, nr := len(days), len(ix.units), len(ix.officers), len(ix.recorders)
	ends := make([]int64, k)
	for j, d := range days {
		ends[j] = dayEndMs(d)
	}
	workers := 1
	if no+nr >= parallelMin {
		workers = min(runtime.GOMAXPROCS(0), 4)
	}
	// Each worker has its own flags (officer o on day j at o*k+j) and
	// counts (unit u on day j at u*k+j), merged at the end: no locks in
	// the loops, and no false sharing beyond the slices' edges.
	flags := make([][]uint8, workers)
	counts := make([][]unitCounts, workers)
	for w := range workers {
		flags[w] = make([]uint8, no*k)
		counts[w] = make([]unitCounts, nu*k)
	}
	parallel := func(n int, fn func(w, lo, hi int)) {
		var wg sync.WaitGroup
		for w := range workers {
			lo, hi := n*w/workers, n*(w+1)/workers
			wg.Go(func() { fn(w, lo, hi) })
		}
		wg.Wait()
	}

	// Recorders: who holds one in service, and the spares in stock.
	parallel(nr, func(w, lo, hi int) {
		fl, cs := flags[w], counts[w]
		for ri := lo; ri < hi; ri++ {
			r := &ix.recorders[ri]
			si := 0
			for j, end := range ends {
				for si < len(r.segs) && r.segs[si].start <= end {
					si++
				}
				if si == 0 {
					continue // not registered yet
				}
				switch sg := r.segs[si-1]; {
				case sg.holder >= 0:
					f := holdsInService
					if j >= full && r.seen.anyIn(days[j]-window+1, days[j]) {
						f |= holdsActive
					}
					fl[int(sg.holder)*k+j] |= f
				case sg.spare >= 0 && j >= full:
					cs[int(sg.spare)*k+j].spare++
				}
			}
		}
	})

	// Officers: eligible at the unit they held that day.
	parallel(no, func(w, lo, hi int) {
		cs := counts[w]
		for oi := lo; oi < hi; oi++ {
			o := &ix.officers[oi]
			vi := 0
			for j, d := range days {
				for vi < len(o.vers) && o.vers[vi].eff <= d {
					vi++
				}
				if vi == 0 {
					continue
				}
				v := o.vers[vi-1]
				if v.unit < 0 || d < v.from || d > v.until {
					continue
				}
				c := &cs[int(v.unit)*k+j]
				c.eligible++
				var f uint8
				for _, fl := range flags {
					f |= fl[oi*k+j]
				}
				if f&holdsInService != 0 {
					c.equipped++
					if f&holdsActive != 0 {
						c.active++
					}
				}
			}
		}
	})

	// Merge the workers' counts, then add up the tree bottom-up: children
	// come after their parents in order.
	out := make([][]unitCounts, k)
	for j := range k {
		out[j] = make([]unitCounts, nu)
	}
	for _, cs := range counts {
		for u := range nu {
			for j := range k {
				c, o := cs[u*k+j], &out[j][u]
				o.eligible += c.eligible
				o.equipped += c.equipped
				o.active += c.active
				o.spare += c.spare
			}
		}
	}
	for j := range k {
		cs := out[j]
		for i := len(ix.order) - 1; i >= 0; i-- {
			u := ix.order[i]
			if p := ix.units[u].parent; p >= 0 {
				cs[p].eligible += cs[u].eligible
				cs[p].equipped += cs[u].equipped
				cs[p].active += cs[u].active
				cs[p].spare += cs[u].spare
			}
		}
	}
	return out
}

// rate is n/of, or nil when of is 0: a unit with nobody eligible has no
// rate, not 100%.
func rate(n, of int32) *float64 {
	if of == 0 {
		return nil
	}
	return ptr(float64(n) / float64(of))
}

// Projection notes: why projected_full_date is what it is.
const (
	ProjectionReached      = "reached"            // the rate is 100% already: the date is the report's
	ProjectionOnPace       = "projected"          // the trend reaches 100% on the date given
	ProjectionNotAtPace    = "not_at_this_pace"   // flat or falling: 100% is not in sight
	ProjectionNoEligible   = "no_eligible"        // nobody eligible, so no rate to project
	ProjectionShortHistory = "insufficient_trend" // fewer than three rates in the trend window
)

// minTrendSlope is the least rise per day that counts as progress: below
// it (under 0.04 percentage points a year) the trend is flat.
const minTrendSlope = 1e-6

// project fits a least-squares line through the rates sampled on days
// (nil where nobody was eligible) and returns the day the current rate
// reaches 100% at that pace. The pace is the fitted slope; the start is
// today's actual rate, not the fitted one, so that the date moves with
// today's figures.
func project(days []day, rates []*float64, today day, current *float64) (day, string) {
	switch {
	case current == nil:
		return 0, ProjectionNoEligible
	case *current >= 1:
		return today, ProjectionReached
	}
	var n, sx, sy, sxx, sxy float64
	for i, r := range rates {
		if r == nil {
			continue
		}
		x := float64(days[i] - today)
		n, sx, sy, sxx, sxy = n+1, sx+x, sy+*r, sxx+x*x, sxy+x**r
	}
	if n < 3 {
		return 0, ProjectionShortHistory
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0, ProjectionShortHistory
	}
	slope := (n*sxy - sx*sy) / den
	if slope < minTrendSlope {
		return 0, ProjectionNotAtPace
	}
	// The epsilon keeps a rounding error from pushing an exact day to the next.
	ahead := math.Ceil((1-*current)/slope - 1e-9)
	if ahead > float64(dayOf(MaxDate)-today) {
		return 0, ProjectionNotAtPace
	}
	return today + day(ahead), ProjectionOnPace
}
