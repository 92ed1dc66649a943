package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest"
	"github.com/lawfleet/fleet/ingest/video"
)

// sosRecorder starts recording a device's live stream into the evidence
// store when an SOS alert is raised for it, as the system, for the
// relay's default length (30 minutes). The alert engine calls it on an
// ingest goroutine, which must not wait: the relay is asked from a
// goroutine of its own (at most maxSOSStarts at once; an SOS beyond that
// is logged and not recorded). A device already being recorded (a
// commander asked first) keeps that recording.
type sosRecorder struct {
	relay  *video.Relay
	audit  *fleet.Register
	logger *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	slots  chan struct{}

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

const maxSOSStarts = 64

func newSOSRecorder(relay *video.Relay, audit *fleet.Register, logger *slog.Logger) *sosRecorder {
	ctx, cancel := context.WithCancel(context.Background())
	return &sosRecorder{relay: relay, audit: audit, logger: logger.With("component", "sos-recording"),
		ctx: ctx, cancel: cancel, slots: make(chan struct{}, maxSOSStarts)}
}

// raised is the alert engine's OnRaise hook.
func (s *sosRecorder) raised(a ingest.Alert) {
	if a.Kind != ingest.AlertSOS || a.DeviceKind == fleet.KindAISUnit {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	select {
	case s.slots <- struct{}{}:
	default:
		s.logger.Error("too many SOS recordings starting at once; not recorded", "device", a.DeviceID, "alert", a.ID)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.slots }()
		s.start(a)
	}()
}

func (s *sosRecorder) start(a ingest.Alert) {
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	sys := fleet.SystemActor()
	st, err := s.relay.StartRecording(ctx, a.DeviceID, video.RecordingRequest{By: sys.ID, ByName: sys.Username,
		Reason: fmt.Sprintf("SOS alert %s", a.ID)})
	switch fleet.ErrorCode(err) {
	case "":
	case fleet.ECONFLICT:
		s.logger.Info("SOS: the device is already being recorded", "device", a.DeviceID, "alert", a.ID)
		return
	default:
		s.logger.Warn("SOS: could not start recording", "device", a.DeviceID, "alert", a.ID, "err", err)
		return
	}
	s.logger.Info("SOS: recording the live stream", "device", a.DeviceID, "alert", a.ID, "recording", st.ID)
	if err := s.audit.RecordAudit(ctx, sys, "video.record_start", "device", a.DeviceID, a.UnitID, nil,
		map[string]any{"recording": st.ID, "reason": st.Reason, "until": st.Until, "alert": a.ID}); err != nil {
		s.logger.Error("audit SOS recording", "device", a.DeviceID, "err", err)
	}
}

// close stops taking alerts and waits for the starts under way.
func (s *sosRecorder) close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}
