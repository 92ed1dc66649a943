package mqttbroker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	refused  *prometheus.CounterVec
	connects prometheus.Counter
	dropped  *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_mqtt_broker_refused_total",
			Help: "Connections, publishes and subscriptions the embedded broker refused, by reason.",
		}, []string{"reason"}),
		connects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_mqtt_broker_device_connects_total", Help: "Device connections accepted by the embedded broker.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_mqtt_broker_dropped_total",
			Help: "Messages the embedded broker did not hand to ingest, by reason (topic, handler).",
		}, []string{"reason"}),
	}
}

// register adds collectors to reg; a nil reg leaves them unregistered.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("mqttbroker: register metrics: %w", err)
		}
	}
	return nil
}

// throttle aggregates noisy log lines per key (a refusal reason): the
// first is logged at once, later ones at most once per interval with the
// number left out, so a flood of bad clients costs a line per reason and
// interval. The exact counts are in the metrics.
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

func (t *throttle) log(logger *slog.Logger, level slog.Level, key string, now time.Time, msg string, args ...any) {
	t.mu.Lock()
	k := t.keys[key]
	if k == nil {
		k = &throttled{}
		t.keys[key] = k // keys are a fixed set of reasons
	} else if now.Sub(k.last) < t.every {
		k.suppressed++
		t.mu.Unlock()
		return
	}
	suppressed := k.suppressed
	k.suppressed, k.last = 0, now
	t.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed, "window", t.every)
	}
	logger.Log(context.Background(), level, msg, args...)
}
