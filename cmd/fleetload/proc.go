package main

import (
	"time"

	"github.com/lawfleet/fleet/internal/loadproc"
)

// cpuMeter measures the CPU of a set of processes and of the machine
// between two points in time.
type cpuMeter struct {
	pids  map[string]int
	start map[string]loadproc.Stat
	peak  map[string]int64 // largest RSS sampled, KB
	busy  time.Duration
	total time.Duration
	at    time.Time
}

func newCPUMeter(pids map[string]int) *cpuMeter {
	m := &cpuMeter{pids: pids, start: map[string]loadproc.Stat{}, peak: map[string]int64{}}
	m.reset()
	return m
}

// reset starts the measuring window now.
func (m *cpuMeter) reset() {
	for name, pid := range m.pids {
		if st, err := loadproc.Sample(pid); err == nil {
			m.start[name] = st
		}
	}
	m.busy, m.total, _ = loadproc.MachineCPU()
	m.at = time.Now()
}

// sample notes the current RSS of each process, for the peak.
func (m *cpuMeter) sample() {
	for name, pid := range m.pids {
		if st, err := loadproc.Sample(pid); err == nil {
			m.peak[name] = max(m.peak[name], st.RSSKB)
		}
	}
}

// procUse is one process's share of a window.
type procUse struct {
	name  string
	cores float64 // CPU seconds per second: 1.0 is one core busy
	wait  float64 // seconds spent runnable without a CPU, per second
	rssMB float64 // at the end of the window
	peak  float64 // largest sampled in the window
}

// read returns each process's CPU use since reset, and the machine's
// busy cores (all processes, ours included).
func (m *cpuMeter) read(order []string) (uses []procUse, machineBusy float64) {
	wall := time.Since(m.at).Seconds()
	for _, name := range order {
		pid, ok := m.pids[name]
		if !ok {
			continue
		}
		st, err := loadproc.Sample(pid)
		if err != nil {
			continue
		}
		m.peak[name] = max(m.peak[name], st.RSSKB)
		uses = append(uses, procUse{name: name, cores: (st.CPU - m.start[name].CPU).Seconds() / wall,
			wait:  (st.Wait - m.start[name].Wait).Seconds() / wall,
			rssMB: float64(st.RSSKB) / 1024, peak: float64(m.peak[name]) / 1024})
	}
	busy, _, err := loadproc.MachineCPU()
	if err == nil {
		machineBusy = (busy - m.busy).Seconds() / wall
	}
	return uses, machineBusy
}
