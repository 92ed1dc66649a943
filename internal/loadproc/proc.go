package loadproc

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

// Stat is what /proc tells of one process.
type Stat struct {
	CPU   time.Duration // user + system since it started
	Wait  time.Duration // runnable but waiting for a CPU, all live threads (schedstat)
	RSSKB int64
	HWMKB int64 // peak RSS
}

// Sample reads /proc/pid/stat, /proc/pid/status and the schedstat of
// each of the process's threads.
func Sample(pid int) (Stat, error) {
	var st Stat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	st.CPU, err = parseStatCPU(b)
	if err != nil {
		return st, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	st.RSSKB, st.HWMKB = statusKB(b, "VmRSS:"), statusKB(b, "VmHWM:")
	st.Wait = runqueueWait(pid)
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
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// MachineCPU is the busy and total CPU time of the whole machine (all
// cores) from the first line of /proc/stat.
func MachineCPU() (busy, total time.Duration, err error) {
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

// Loadavg is the first three fields of /proc/loadavg, or "?".
func Loadavg() string {
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
