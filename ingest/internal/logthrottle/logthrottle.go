// Package logthrottle aggregates noisy log lines for the ingest
// components: the first line of a key is logged at once, later ones at most
// once per interval with the number left out in between. A flood of bad
// payloads or refused clients therefore costs one line per key and
// interval; the exact counts are in the metrics.
package logthrottle

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// maxKeys bounds the map; keys come from small fixed sets (kind and
// reason), so reaching it means a bug made them unbounded.
const maxKeys = 1024

// Throttle limits log lines per key.
type Throttle struct {
	every time.Duration
	mu    sync.Mutex
	keys  map[string]*entry
}

type entry struct {
	last       time.Time
	suppressed int
}

// New returns a throttle letting one line per key through per every.
func New(every time.Duration) *Throttle {
	return &Throttle{every: every, keys: make(map[string]*entry)}
}

// Allow reports whether a line for key may be logged now, and how many
// were suppressed since the last one.
func (t *Throttle) Allow(key string, now time.Time) (ok bool, suppressed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.keys[key]
	if k == nil {
		if len(t.keys) >= maxKeys {
			clear(t.keys)
		}
		k = &entry{}
		t.keys[key] = k
	} else if now.Sub(k.last) < t.every {
		k.suppressed++
		return false, 0
	}
	suppressed, k.suppressed, k.last = k.suppressed, 0, now
	return true, suppressed
}

// Log logs msg with args at level, throttled by key.
func (t *Throttle) Log(logger *slog.Logger, level slog.Level, key string, now time.Time, msg string, args ...any) {
	if !logger.Enabled(context.Background(), level) {
		return // a flood of debug lines costs nothing when debug is off
	}
	ok, suppressed := t.Allow(key, now)
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed, "window", t.every)
	}
	logger.Log(context.Background(), level, msg, args...)
}
