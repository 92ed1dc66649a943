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
	"errors"
	"fmt"

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
