// Command fleetd is the service: it reads its configuration and wires the
// register, the ingest pipelines and the HTTP API together. It holds no
// logic of its own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/web"
	"github.com/lawfleet/fleet/web/ui"
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

// Main is the running service. Run starts every component in order;
// Close stops them in reverse, intake first, so queues drain.
type Main struct {
	cfg    Config
	logger *slog.Logger
	out    io.Writer // where the generated admin password is printed once

	metrics  *prometheus.Registry
	store    *sqlstore.DB
	register *fleet.Register
	http     *http.Server
	httpLn   net.Listener
	closers  []func() error // in start order
}

func NewMain(cfg Config, logger *slog.Logger, out io.Writer) *Main {
	return &Main{cfg: cfg, logger: logger, out: out}
}

// HTTPAddr is the address the API listens on, once Run has returned.
func (m *Main) HTTPAddr() string { return m.httpLn.Addr().String() }

// Run starts the service and returns once it is serving.
func (m *Main) Run(ctx context.Context) (err error) {
	if err := mkdirData(m.cfg); err != nil {
		return err
	}
	m.metrics = prometheus.NewRegistry()
	m.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if m.store, err = sqlstore.Open(ctx, m.cfg.DB, m.logger); err != nil {
		return fmt.Errorf("open register: %w", err)
	}
	m.onClose(m.store.Close)
	m.register = fleet.NewRegister(m.store, nil)
	generated, err := m.register.Bootstrap(ctx, m.cfg.AdminPassword)
	if err != nil {
		return fmt.Errorf("create first admin: %w", err)
	}
	if generated != "" {
		fmt.Fprintf(m.out, "\nFirst start: user admin, password %s (shown once; change it after signing in)\n\n", generated)
	}

	api := web.New(web.Config{}, web.Deps{
		Register: m.register,
		Logger:   m.logger.With("component", "web"),
		Metrics:  m.metrics,
		UI:       ui.FS(),
	})
	return m.serveHTTP(api.Handler())
}

func (m *Main) serveHTTP(h http.Handler) error {
	ln, err := net.Listen("tcp", m.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen http: %w", err)
	}
	m.httpLn = ln
	m.http = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := m.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.logger.Error("http server", "err", err)
		}
	}()
	m.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return m.http.Shutdown(ctx)
	})
	m.logger.Info("serving", "http", ln.Addr().String())
	return nil
}

func (m *Main) onClose(f func() error) { m.closers = append(m.closers, f) }

// Close stops every started component in reverse order of start.
func (m *Main) Close() error {
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i]())
	}
	m.closers = nil
	return errors.Join(errs...)
}
