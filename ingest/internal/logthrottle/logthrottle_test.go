package logthrottle

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	th := New(time.Minute)
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	steps := []struct {
		key  string
		at   time.Duration
		want bool
	}{
		{"a", 0, true},
		{"a", 10 * time.Second, false},
		{"a", 59 * time.Second, false},
		{"b", 59 * time.Second, true}, // keys are independent
		{"a", time.Minute, true},      // carries suppressed=2
		{"a", 61 * time.Second, false},
	}
	for i, s := range steps {
		ok, _ := th.Allow(s.key, t0.Add(s.at))
		if ok != s.want {
			t.Errorf("step %d: Allow(%s, +%s) = %v, want %v", i, s.key, s.at, ok, s.want)
		}
	}
	th = New(time.Minute)
	for i := range 5 {
		th.Log(logger, slog.LevelWarn, "k", t0.Add(time.Duration(i)*time.Second), "rejected")
	}
	th.Log(logger, slog.LevelWarn, "k", t0.Add(2*time.Minute), "rejected")
	out := buf.String()
	if n := strings.Count(out, "rejected"); n != 2 {
		t.Errorf("logged %d lines, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "suppressed=4") {
		t.Errorf("missing suppressed count:\n%s", out)
	}
	for i := range maxKeys + 10 {
		th.Allow(strings.Repeat("x", i%50)+string(rune('a'+i%26))+time.Duration(i).String(), t0)
	}
	if len(th.keys) > maxKeys {
		t.Errorf("keys grew to %d", len(th.keys))
	}
}
