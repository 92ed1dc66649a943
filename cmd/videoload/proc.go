package main

import (
	"time"

	"github.com/lawfleet/fleet/internal/loadproc"
)

// group is a set of processes measured together, e.g. the K ffmpeg
// pushers, whose members may be replaced (a pusher restarted) during a
// window.
type group struct {
	pids  func() []int
	start map[int]time.Duration
	peak  int64 // largest summed RSS sampled, KB
}

// usage is a group's share of a window.
type usage struct {
	cores  float64 // CPU seconds per second: 1.0 is one core busy
	rssMB  float64 // summed, at the end of the window
	peakMB float64 // largest summed RSS sampled in the window
}

func (g *group) reset() {
	g.start = map[int]time.Duration{}
	g.peak = 0
	for _, pid := range g.pids() {
		if st, err := loadproc.Sample(pid); err == nil {
			g.start[pid] = st.CPU
		}
	}
}

// sample notes the summed RSS, for the peak.
func (g *group) sample() {
	var sum int64
	for _, pid := range g.pids() {
		if st, err := loadproc.Sample(pid); err == nil {
			sum += st.RSSKB
		}
	}
	g.peak = max(g.peak, sum)
}

// read is the group's use over wall. A member that started during the
// window counts from its start; one that ended is lost for its last
// part, so after restarts the figure errs low.
func (g *group) read(wall time.Duration) usage {
	var cpu time.Duration
	var rss int64
	for _, pid := range g.pids() {
		st, err := loadproc.Sample(pid)
		if err != nil {
			continue
		}
		cpu += st.CPU - g.start[pid]
		rss += st.RSSKB
	}
	g.peak = max(g.peak, rss)
	return usage{cores: cpu.Seconds() / wall.Seconds(), rssMB: float64(rss) / 1024, peakMB: float64(g.peak) / 1024}
}
