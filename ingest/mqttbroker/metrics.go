package mqttbroker

import (
	"fmt"

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
