// Command fleetd is the service: it reads its configuration and wires the
// register, the ingest pipelines and the HTTP API together. It holds no
// logic of its own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := ParseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "fleetd:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	// Process-wide, so here and not in Main, which tests run in-process.
	applyGC(cfg, os.Getenv, logger)

	m := NewMain(cfg, logger, os.Stdout)
	if err := m.Run(ctx); err != nil {
		logger.Error("start failed", "err", err)
		m.Close()
		os.Exit(1)
	}
	<-ctx.Done()
	logger.Info("shutting down")
	if err := m.Close(); err != nil {
		logger.Error("shutdown", "err", err)
		os.Exit(1)
	}
}
