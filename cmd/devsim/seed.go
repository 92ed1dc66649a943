package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/lawfleet/fleet/devices/sim/fleetapi"
	"github.com/lawfleet/fleet/devices/sim/seed"
	"github.com/lawfleet/fleet/fleet"
)

// seedCommand creates the demo province and prints what it made.
func seedCommand(ctx context.Context, cfg config, logger *slog.Logger, stdout io.Writer) error {
	api, err := fleetapi.New(cfg.api, nil)
	if err != nil {
		return err
	}
	s := seed.New(api, seedConfig(cfg, time.Now()), logger)
	sum, err := s.Seed(ctx)
	if err != nil {
		return err
	}
	return sum.Print(stdout)
}

func seedConfig(cfg config, now time.Time) seed.Config {
	return seed.Config{
		API:          cfg.api,
		User:         cfg.user,
		Password:     cfg.password,
		StatePath:    cfg.state,
		DemoPassword: cfg.demoPassword,
		Concurrency:  cfg.concurrency,
		ReadyTimeout: cfg.wait,
		Options: seed.Options{Seed: cfg.seed, Officers: cfg.officers, Recorders: cfg.devices,
			Today: fleet.DateOf(now), RTSPAddr: cfg.rtsp},
	}
}
