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
	rssKB int64
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
	st.rssKB = statusKB(b, "VmRSS:")
	return st, nil
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
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// machineBusy is the busy CPU time of the whole machine (all cores) from
// the first line of /proc/stat.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
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
	return time.Duration(t-idle) * time.Second / clockTicks, nil
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
		if st, err := readProc(pid); err == nil {
			g.start[pid] = st.cpu
		}
	}
}

// sample notes the summed RSS, for the peak.
func (g *group) sample() {
	var sum int64
	for _, pid := range g.pids() {
		if st, err := readProc(pid); err == nil {
			sum += st.rssKB
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
		st, err := readProc(pid)
		if err != nil {
			continue
		}
		cpu += st.cpu - g.start[pid]
		rss += st.rssKB
	}
	g.peak = max(g.peak, rss)
	return usage{cores: cpu.Seconds() / wall.Seconds(), rssMB: float64(rss) / 1024, peakMB: float64(g.peak) / 1024}
}
