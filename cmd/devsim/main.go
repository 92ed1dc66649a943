// Command devsim is the device fleet simulator. "devsim seed" builds a
// realistic demo province in a running fleet service through its public
// HTTP API and saves the devices' ids and MQTT secrets in a state file;
// "devsim run" connects those devices to the MQTT broker and plays their
// telemetry and events; "devsim demo" does both.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "devsim:", err)
		os.Exit(1)
	}
}

// run parses the command line and environment and runs the subcommand.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	switch cfg.command {
	case "seed":
		return seedCommand(ctx, cfg, logger, stdout)
	case "run":
		return runCommand(ctx, cfg, logger)
	case "demo":
		if err := seedCommand(ctx, cfg, logger, stdout); err != nil {
			return err
		}
		return runCommand(ctx, cfg, logger)
	}
	return fmt.Errorf("unknown command %q", cfg.command)
}
