package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/lawfleet/fleet/devices/sim"
	"github.com/lawfleet/fleet/devices/sim/fleetapi"
	"github.com/lawfleet/fleet/devices/sim/paho"
	"github.com/lawfleet/fleet/devices/sim/seed"
	"github.com/lawfleet/fleet/fleet"
)

// demoPassword is every demo user's password, printed with the summary.
const demoPassword = "fleet-demo-2026"

// runDemo seeds a demo province through this service's own HTTP API (as
// an operator's script would) and then simulates its devices over MQTT
// against the embedded broker, until the service stops.
func (m *Main) runDemo(ctx context.Context) error {
	password := m.cfg.AdminPassword
	if password == "" {
		password = m.adminPW
	}
	if password == "" {
		return errors.New("demo: set FLEET_ADMIN_PASSWORD to the admin's password to seed an existing register")
	}
	if m.broker == nil {
		return errors.New("demo: the simulator needs the embedded broker (no -mqtt-url)")
	}
	base := "http://" + loopback(m.HTTPAddr())
	api, err := fleetapi.New(base, nil)
	if err != nil {
		return err
	}
	state := filepath.Join(m.cfg.DataDir, "demo-state.json")
	s := seed.New(api, seed.Config{API: base, User: "admin", Password: password, StatePath: state,
		DemoPassword: demoPassword, Concurrency: 8, ReadyTimeout: 30 * time.Second,
		Options: seed.Options{Seed: 1, Officers: m.cfg.DemoOfficers, Today: fleet.DateOf(time.Now()),
			RTSPAddr: loopback(m.relay.RTSPAddr().String())}}, m.logger)
	sum, err := s.Seed(ctx)
	if err != nil {
		return fmt.Errorf("demo seed: %w", err)
	}
	if err := sum.Print(m.out); err != nil {
		return err
	}
	st, err := seed.LoadState(state)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.out, "\nDemo running: open %s (admin, or a demo user with password %s)\n\n", base, demoPassword)
	dial := &paho.Dialer{URL: "tcp://" + loopback(m.broker.Addr())}
	// The demo's devices trust this service's firmware key; a few fail or
	// roll back, so a rollout's halt can be watched too.
	fw := &sim.FirmwareConfig{Trusted: []ed25519.PublicKey{m.fwPublic}, FailRate: 0.03, RollbackRate: 0.02,
		Reboot: 20 * time.Second}
	return sim.New(sim.Config{Firmware: fw}, seed.SimDevices(st), dial, m.logger).Run(ctx)
}

// loopback turns a listen address such as ":8080" into one to dial.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || host == "::" || host == "0.0.0.0" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}
