package main

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Garbage collector settings. fleetd allocates at a steady rate for every
// device message (MQTT packets, decoded samples, points, InfluxDB request
// bodies) while what it keeps alive is small: at 12,000 messages a second
// from 5,000 connections the live heap was 75 MB and the goroutine stacks
// 36 MB. With Go's default GOGC of 100 the collector then ran every 1.7 s
// and used 8 % of the CPU time open to fleetd (and every cycle shrinks the
// stacks of idle connections, which grow again on their next message); at
// 200 it ran every 7 s for 1 %, and 400 gained nothing more for twice the
// heap (GODEBUG=gctrace=1 through fleetload -fleetd-env). A higher percent lets
// the heap grow to a multiple of what is live, so a soft memory limit keeps
// the process bounded: near it the collector runs as often as it must,
// whatever the percent.
const (
	defaultGCPercent = 200
	// memoryLimitAuto is the -memory-limit default: a share of the memory
	// of the machine or of the container's cgroup, whichever is less.
	memoryLimitAuto = -1
	// autoLimitShare is that share: half, for InfluxDB and the database
	// run beside fleetd on one machine, and the page cache.
	autoLimitShare = 0.5
)

// parseMemoryLimit reads -memory-limit: "auto", "off" (or "0") for none,
// or a size in GOMEMLIMIT's syntax, a number of bytes with an optional
// B, KiB, MiB, GiB or TiB suffix.
func parseMemoryLimit(s string) (int64, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "auto":
		return memoryLimitAuto, nil
	case "off", "0":
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || v*float64(mult) >= 1<<62 {
		return 0, fmt.Errorf("memory limit %q: want auto, off or a size such as 1536MiB or 3GiB", s)
	}
	return int64(v * float64(mult)), nil
}

// gcSettings is what applyGC decided, for the log.
type gcSettings struct {
	percent     int    // -1 when GOGC in the environment rules
	limit       int64  // bytes; 0 none; -1 when GOMEMLIMIT rules
	limitSource string // "flag", "auto", "environment", "none"
}

// decideGC works out the settings: Go's own GOGC and GOMEMLIMIT, when
// set in the environment, win over fleetd's defaults and flags, so the
// usual way of tuning a Go program keeps working. total reports the memory
// available to the process (ok false when it cannot tell).
func decideGC(cfg Config, getenv func(string) string, total func() (int64, bool)) gcSettings {
	s := gcSettings{percent: cfg.GCPercent, limit: cfg.MemoryLimit, limitSource: "flag"}
	if getenv("GOGC") != "" {
		s.percent = -1
	}
	switch {
	case getenv("GOMEMLIMIT") != "":
		s.limit, s.limitSource = -1, "environment"
	case s.limit == memoryLimitAuto:
		s.limit, s.limitSource = 0, "none"
		if t, ok := total(); ok && t > 0 {
			s.limit, s.limitSource = int64(float64(t)*autoLimitShare), "auto"
		}
	case s.limit == 0:
		s.limitSource = "none"
	}
	return s
}

// applyGC sets the collector up as decideGC says and logs it.
func applyGC(cfg Config, getenv func(string) string, logger *slog.Logger) {
	s := decideGC(cfg, getenv, availableMemory)
	attrs := []any{}
	if s.percent >= 0 {
		debug.SetGCPercent(s.percent)
		attrs = append(attrs, "gc_percent", s.percent)
	} else {
		attrs = append(attrs, "gc_percent", "GOGC="+getenv("GOGC"))
	}
	switch {
	case s.limit > 0:
		debug.SetMemoryLimit(s.limit)
		attrs = append(attrs, "memory_limit_mib", s.limit>>20, "memory_limit_from", s.limitSource)
	case s.limit < 0:
		attrs = append(attrs, "memory_limit", "GOMEMLIMIT="+getenv("GOMEMLIMIT"))
	default:
		attrs = append(attrs, "memory_limit", "none")
	}
	logger.Info("garbage collector", attrs...)
}

// availableMemory is the smaller of the machine's memory and the memory
// limit of the cgroup the process runs in (v2 or v1), on Linux.
func availableMemory() (int64, bool) {
	total, ok := memTotal("/proc/meminfo")
	if !ok {
		return 0, false
	}
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(path); err == nil {
			if v, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); err == nil && v > 0 {
				total = min(total, v) // "max", or v1's huge "unlimited", leave it
			}
			break
		}
	}
	return total, true
}

// memTotal reads MemTotal from a /proc/meminfo.
func memTotal(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		return kb << 10, err == nil
	}
	return 0, false
}
