package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of CPU times in /proc: 100 on every
// Linux architecture Go supports (sysconf(_SC_CLK_TCK) is not reachable
// without cgo).
const clockTicks = 100

// procStat is what /proc tells of one process.
type procStat struct {
	cpu   time.Duration // user + system since it started
	wait  time.Duration // runnable but waiting for a CPU, all threads (schedstat)
	rssKB int64
	hwmKB int64 // peak RSS
}

// readProc reads /proc/pid/stat and /proc/pid/status.
func readProc(pid int) (procStat, error) {
	var st procStat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	st.cpu, err = parseStatCPU(b)
	if err != nil {
		return st, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	st.rssKB, st.hwmKB = statusKB(b, "VmRSS:"), statusKB(b, "VmHWM:")
	st.wait = runqueueWait(pid)
	return st, nil
}

// runqueueWait sums, over the process's live threads, the time they were
// ready to run but waited for a CPU (field 2 of /proc/pid/task/tid/
// schedstat, nanoseconds). On a shared machine it tells how much of a
// figure is the others' doing. Threads that exited are not counted, so
// it errs low.
func runqueueWait(pid int) time.Duration {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) >= 2 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			sum += n
		}
	}
	return time.Duration(sum)
}

// parseStatCPU takes utime and stime (fields 14 and 15) from a
// /proc/pid/stat line. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its closing parenthesis.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("short line")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad utime or stime")
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

func statusKB(b []byte, key string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// machineCPU is the busy and total CPU time of the whole machine (all
// cores) from the first line of /proc/stat.
func machineCPU() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	// user nice system idle iowait irq softirq steal (guest is in user).
	var t, idle int64
	for i, s := range f[1:min(len(f), 9)] {
		n, _ := strconv.ParseInt(s, 10, 64)
		t += n
		if i == 3 || i == 4 {
			idle += n
		}
	}
	tick := time.Second / clockTicks
	return time.Duration(t-idle) * tick, time.Duration(t) * tick, nil
}

// loadavg is the first three fields of /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// cpuMeter measures the CPU of a set of processes and of the machine
// between two points in time.
type cpuMeter struct {
	pids  map[string]int
	start map[string]procStat
	peak  map[string]int64 // largest RSS sampled, KB
	busy  time.Duration
	total time.Duration
	at    time.Time
}

func newCPUMeter(pids map[string]int) *cpuMeter {
	m := &cpuMeter{pids: pids, start: map[string]procStat{}, peak: map[string]int64{}}
	m.reset()
	return m
}

// reset starts the measuring window now.
func (m *cpuMeter) reset() {
	for name, pid := range m.pids {
		if st, err := readProc(pid); err == nil {
			m.start[name] = st
		}
	}
	m.busy, m.total, _ = machineCPU()
	m.at = time.Now()
}

// sample notes the current RSS of each process, for the peak.
func (m *cpuMeter) sample() {
	for name, pid := range m.pids {
		if st, err := readProc(pid); err == nil {
			m.peak[name] = max(m.peak[name], st.rssKB)
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
		st, err := readProc(pid)
		if err != nil {
			continue
		}
		m.peak[name] = max(m.peak[name], st.rssKB)
		uses = append(uses, procUse{name: name, cores: (st.cpu - m.start[name].cpu).Seconds() / wall,
			wait:  (st.wait - m.start[name].wait).Seconds() / wall,
			rssMB: float64(st.rssKB) / 1024, peak: float64(m.peak[name]) / 1024})
	}
	busy, _, err := machineCPU()
	if err == nil {
		machineBusy = (busy - m.busy).Seconds() / wall
	}
	return uses, machineBusy
}
