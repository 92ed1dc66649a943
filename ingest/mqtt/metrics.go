package mqtt

import (
	"fmt"

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
