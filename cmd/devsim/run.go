package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"strings"

	"github.com/lawfleet/fleet/cmd/devsim/internal/seed"
	"github.com/lawfleet/fleet/devices/sim"
	"github.com/lawfleet/fleet/devices/sim/paho"
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
	devs := simDevices(st)
	logger.Info("devices from state", "state", cfg.state, "simulated", len(devs), "silent", len(st.Devices)-len(devs))
	s := sim.New(sim.Config{Interval: cfg.interval, Seed: cfg.seed, SOSPerHour: cfg.sosPerHour,
		DropsPerHour: cfg.dropsPerHour}, devs, &paho.Dialer{URL: brokerURL(cfg.mqtt)}, logger)
	return s.Run(ctx)
}

// simDevices turns the seeded devices into simulated ones; devices in
// repair, lost or retired stay silent.
func simDevices(st seed.State) []sim.Device {
	var devs []sim.Device
	for _, d := range st.Devices {
		role, ok := sim.RoleOf(d.Kind, d.Status)
		if !ok {
			continue
		}
		origin, home := place(d.UnitCode)
		devs = append(devs, sim.Device{ID: d.ID, Secret: d.MQTTSecret, Kind: d.Kind, Role: role,
			Origin: origin, Home: home, MMSI: d.MMSI})
	}
	return devs
}

// place is where a unit's devices work: around its city's centre, with
// the unit's own station a few kilometres from it, the same every run.
func place(unitCode string) (origin, home sim.LatLon) {
	origin = sim.Wuhan
	if lat, lon, ok := seed.CityCentre(unitCode); ok {
		origin = sim.LatLon{Lat: lat, Lon: lon}
	}
	h := fnv.New64a()
	h.Write([]byte(unitCode))
	v := h.Sum64()
	angle := float64(v%3600) / 3600 * 2 * math.Pi
	km := 1 + float64(v/3600%5000)/1000 // 1–6 km out
	const kmPerDegLat = 111.2
	home = sim.LatLon{Lat: origin.Lat + km*math.Cos(angle)/kmPerDegLat,
		Lon: origin.Lon + km*math.Sin(angle)/(kmPerDegLat*math.Cos(origin.Lat*math.Pi/180))}
	return origin, home
}

// brokerURL accepts host:port or a URL (tcp://, ssl://, ws://).
func brokerURL(addr string) string {
	if strings.Contains(addr, "://") {
		return addr
	}
	return "tcp://" + addr
}
