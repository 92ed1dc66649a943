package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/lawfleet/fleet/devices/sim"
	"github.com/lawfleet/fleet/devices/sim/paho"
	"github.com/lawfleet/fleet/devices/sim/seed"
)

// runCommand connects the devices of the state file to the broker and
// simulates them until ctx ends.
func runCommand(ctx context.Context, cfg config, logger *slog.Logger) error {
	st, err := seed.LoadState(cfg.state)
	if errors.Is(err, seed.ErrNoState) {
		return fmt.Errorf("%w: run \"devsim seed\" first", err)
	} else if err != nil {
		return err
	}
	if !st.Complete {
		return fmt.Errorf("state file %s is from a seed that did not finish", cfg.state)
	}
	devs := seed.SimDevices(st)
	logger.Info("devices from state", "state", cfg.state, "simulated", len(devs), "silent", len(st.Devices)-len(devs))
	s := sim.New(sim.Config{Interval: cfg.interval, Seed: cfg.seed, SOSPerHour: cfg.sosPerHour,
		DropsPerHour: cfg.dropsPerHour}, devs, &paho.Dialer{URL: brokerURL(cfg.mqtt)}, logger)
	return s.Run(ctx)
}

// brokerURL accepts host:port or a URL (tcp://, ssl://, ws://).
func brokerURL(addr string) string {
	if strings.Contains(addr, "://") {
		return addr
	}
	return "tcp://" + addr
}
