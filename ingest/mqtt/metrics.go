package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	messages          prometheus.Counter
	dropped           *prometheus.CounterVec
	connects          prometheus.Counter
	lost              prometheus.Counter
	subscribeFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, connected func() float64) (*metrics, error) {
	m := &metrics{
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_mqtt_consumer_messages_total", Help: "Messages handed to ingest and acknowledged.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_mqtt_consumer_dropped_total", Help: "Messages not handed to ingest, by reason (topic, handler).",
		}, []string{"reason"}),
		connects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_mqtt_consumer_connects_total", Help: "Connections (and reconnections) to the broker.",
		}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_mqtt_consumer_connection_lost_total", Help: "Broker connections lost.",
		}),
		subscribeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_mqtt_consumer_subscribe_failures_total", Help: "Subscription attempts that failed.",
		}),
	}
	up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fleet_mqtt_consumer_connected", Help: "1 while connected to the broker.",
	}, connected)
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.messages, m.dropped, m.connects, m.lost, m.subscribeFailures, up} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("mqtt: register metrics: %w", err)
		}
	}
	return m, nil
}

// throttle aggregates noisy log lines per key: the first is logged at
// once, later ones at most once per interval with the number left out.
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
		t.keys[key] = k // keys are a small fixed set
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
