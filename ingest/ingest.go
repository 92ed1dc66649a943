// Package ingest takes device data in: the pipeline that decodes what the
// MQTT adapters deliver (ingest/mqttbroker, ingest/mqtt), writes it to the
// time-series store in batches, keeps the live state of every device, raises
// and clears alerts, and records check-ins.
//
// It depends on the domain (fleet, devices) and on the series boundary; it
// imports no MQTT library and no store: the adapters call Pipeline.Handle,
// and the register, directory and stores come in through small interfaces
// declared here.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/fleet"
)

// ErrClosed is returned by Handle once the pipeline is shutting down.
var ErrClosed = errors.New("ingest: pipeline closed")

// DeviceRef is what the pipeline, the live state and the alerts know of a
// device: enough to tag its data and to scope it to a unit.
type DeviceRef struct {
	ID     string
	Kind   fleet.DeviceKind
	UnitID string
}

// register adds collectors to reg; a nil reg leaves them unregistered
// (they still count).
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("ingest: register metrics: %w", err)
		}
	}
	return nil
}

// throttle aggregates noisy log lines: the first line of a key is logged
// at once, later ones at most once per interval, with the number left out
// in between. A flood of bad payloads therefore costs one line per key and
// interval; the exact counts are in the metrics. Keys come from small
// fixed sets (kind and reason), so the map stays small.
type throttle struct {
	every time.Duration
	mu    sync.Mutex
	keys  map[string]*throttled
}

type throttled struct {
	last       time.Time
	suppressed int
}

func newThrottle(every time.Duration) *throttle {
	return &throttle{every: every, keys: make(map[string]*throttled)}
}

// allow reports whether a line for key may be logged now, and how many
// were suppressed since the last one.
func (t *throttle) allow(key string, now time.Time) (ok bool, suppressed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.keys[key]
	if k == nil {
		if len(t.keys) >= 1024 { // a bug made keys unbounded: start over
			clear(t.keys)
		}
		k = &throttled{}
		t.keys[key] = k
	} else if now.Sub(k.last) < t.every {
		k.suppressed++
		return false, 0
	}
	suppressed, k.suppressed, k.last = k.suppressed, 0, now
	return true, suppressed
}

// log logs msg with args at level, throttled by key.
func (t *throttle) log(logger *slog.Logger, level slog.Level, key string, now time.Time, msg string, args ...any) {
	ok, suppressed := t.allow(key, now)
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed, "window", t.every)
	}
	logger.Log(context.Background(), level, msg, args...)
}
