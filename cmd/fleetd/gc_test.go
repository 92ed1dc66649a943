package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestParseMemoryLimit(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"auto", memoryLimitAuto, false},
		{"AUTO", memoryLimitAuto, false},
		{"off", 0, false},
		{"0", 0, false},
		{"1536MiB", 1536 << 20, false},
		{"3GiB", 3 << 30, false},
		{"1.5 GiB", 3 << 29, false},
		{"512KiB", 512 << 10, false},
		{"1TiB", 1 << 40, false},
		{"1000B", 1000, false},
		{"123456789", 123456789, false},
		{"3GB", 0, true}, // GOMEMLIMIT has no decimal units either
		{"-1GiB", 0, true},
		{"lots", 0, true},
		{"", 0, true},
		{"9999999TiB", 0, true},
	}
	for _, tt := range tests {
		got, err := parseMemoryLimit(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseMemoryLimit(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDecideGC(t *testing.T) {
	const total = 16 << 30
	mem := func(n int64, ok bool) func() (int64, bool) { return func() (int64, bool) { return n, ok } }
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		mem         func() (int64, bool)
		wantPercent int
		wantLimit   int64
		wantSource  string
	}{
		{"defaults", nil, nil, mem(total, true), defaultGCPercent, total / 2, "auto"},
		{"unknown memory", nil, nil, mem(0, false), defaultGCPercent, 0, "none"},
		{"flags", []string{"-gc-percent", "200", "-memory-limit", "2GiB"}, nil, mem(total, true), 200, 2 << 30, "flag"},
		{"fleet env", nil, map[string]string{"FLEET_GC_PERCENT": "150", "FLEET_MEMORY_LIMIT": "off"}, mem(total, true), 150, 0, "none"},
		{"go env wins", []string{"-gc-percent", "200", "-memory-limit", "2GiB"},
			map[string]string{"GOGC": "100", "GOMEMLIMIT": "1GiB"}, mem(total, true), -1, -1, "environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			cfg, err := ParseConfig(tt.args, getenv, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			s := decideGC(cfg, getenv, tt.mem)
			if s.percent != tt.wantPercent || s.limit != tt.wantLimit || s.limitSource != tt.wantSource {
				t.Errorf("got %+v, want percent %d limit %d from %s", s, tt.wantPercent, tt.wantLimit, tt.wantSource)
			}
		})
	}
	for _, args := range [][]string{{"-gc-percent", "0"}, {"-memory-limit", "much"}} {
		if _, err := ParseConfig(args, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("ParseConfig(%q) accepted", args)
		}
	}
}

func TestMemTotal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meminfo")
	if err := os.WriteFile(path, []byte("MemTotal:       24683460 kB\nMemFree:        22277600 kB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, ok := memTotal(path); !ok || n != 24683460<<10 {
		t.Errorf("memTotal = %d, %v", n, ok)
	}
	if _, ok := memTotal(filepath.Join(t.TempDir(), "absent")); ok {
		t.Error("memTotal of a missing file ok")
	}
	if n, ok := availableMemory(); ok && n <= 0 {
		t.Errorf("availableMemory = %d", n)
	}
}
