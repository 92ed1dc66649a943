package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/video"
)

// Recording a device's live stream into the evidence store, on a
// commander's request (SOS recordings are started by the service itself,
// see cmd/fleetd). The relay records; RecordingVault files each segment
// it closes as an evidence item whose custody begins with the commander
// and their reason.

// LiveRecorder records live streams: the video relay. The VideoSource
// given to MountVideo provides it when it can.
type LiveRecorder interface {
	StartRecording(ctx context.Context, deviceID string, req video.RecordingRequest) (video.RecordingState, error)
	StopRecording(ctx context.Context, deviceID, by string) (video.RecordingState, error)
	Recording(deviceID string) video.RecordingState
}

// RecordingRequest is the body of POST /devices/{id}/live/recording.
type RecordingRequest struct {
	Reason     string `json:"reason"`
	MaxMinutes *int   `json:"max_minutes"` // null: the relay's default (30)
}

// stopWait bounds how long DELETE waits for the last segment to be
// stored before it answers with state "stopping".
const stopWait = 30 * time.Second

func (s *Server) recordingRoutes() {
	s.api.GET("/devices/:id/live/recording", s.getRecording)
	s.api.POST("/devices/:id/live/recording", s.startRecording)
	s.api.DELETE("/devices/:id/live/recording", s.stopRecording)
}

// recordable checks that actor may record device id (permission
// live.record, the device in actor's subtree) and returns the device and
// the recorder.
func (s *Server) recordable(ctx context.Context, actor fleet.User, id string) (fleet.Device, LiveRecorder, error) {
	rec, ok := s.video.(LiveRecorder)
	if !ok {
		return fleet.Device{}, nil, fleet.Errorf(fleet.EUNAVAILABLE, "recording live video is not enabled")
	}
	if !actor.Role.Can(fleet.PermRecordLive) {
		return fleet.Device{}, nil, fleet.Errorf(fleet.EFORBIDDEN, "role %s may not record live video", actor.Role)
	}
	d, err := s.reg.Device(ctx, actor, id)
	return d, rec, err
}

func (s *Server) getRecording(c *gin.Context) {
	_, rec, err := s.recordable(c.Request.Context(), Actor(c), c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, rec.Recording(c.Param("id")))
}

func (s *Server) startRecording(c *gin.Context) {
	ctx, actor := c.Request.Context(), Actor(c)
	d, rec, err := s.recordable(ctx, actor, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	var in RecordingRequest
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	req := video.RecordingRequest{By: actor.ID, ByName: actor.Username, Reason: strings.TrimSpace(in.Reason)}
	if req.Reason == "" {
		WriteError(c, fleet.Invalid("reason", "reason is required: say why the stream is recorded"))
		return
	}
	if in.MaxMinutes != nil {
		if *in.MaxMinutes < 1 {
			WriteError(c, fleet.Invalid("max_minutes", "max_minutes must be at least 1"))
			return
		}
		req.MaxDuration = time.Duration(*in.MaxMinutes) * time.Minute
	}
	st, err := rec.StartRecording(ctx, d.ID, req)
	var fe *fleet.Error
	if errors.As(err, &fe) && fe.Field == "max_duration" {
		err = &fleet.Error{Code: fe.Code, Field: "max_minutes", Message: fe.Message}
	}
	if err != nil {
		WriteError(c, err)
		return
	}
	s.auditRecording(ctx, actor, "video.record_start", d, st)
	c.JSON(http.StatusAccepted, st)
}

func (s *Server) stopRecording(c *gin.Context) {
	ctx, actor := c.Request.Context(), Actor(c)
	d, rec, err := s.recordable(ctx, actor, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	wait, cancel := context.WithTimeout(ctx, stopWait)
	defer cancel()
	st, err := rec.StopRecording(wait, d.ID, actor.ID)
	if err != nil {
		WriteError(c, err)
		return
	}
	s.auditRecording(ctx, actor, "video.record_stop", d, st)
	c.JSON(http.StatusOK, st)
}

// auditRecording writes who started or stopped a recording. The
// recording has started (or stopped) by then: a failure is logged, and
// the custody log of every segment names the commander anyway.
func (s *Server) auditRecording(ctx context.Context, actor fleet.User, action string, d fleet.Device, st video.RecordingState) {
	after := map[string]any{"recording": st.ID, "reason": st.Reason, "until": st.Until, "state": st.State}
	if err := s.reg.RecordAudit(ctx, actor, action, "device", d.ID, d.UnitID, nil, after); err != nil {
		s.logger.Error("audit live recording", "action", action, "device", d.ID, "err", err)
	}
}

// RecordingVault files the segments the relay records as evidence items
// (source live): it is the relay's RecordingSink.
type RecordingVault struct{ Vault *fleet.Vault }

// StoreRecording hands one segment's file to the vault, which stores it
// only if it hashes to what the relay took while writing it.
func (rv RecordingVault) StoreRecording(ctx context.Context, seg video.RecordedSegment) error {
	f, err := os.Open(seg.Path)
	if err != nil {
		return fmt.Errorf("open recorded segment: %w", err)
	}
	defer f.Close()
	actor := fleet.User{ID: seg.By, Username: seg.ByName}
	if sys := fleet.SystemActor(); seg.By == sys.ID {
		actor = sys
	}
	_, _, err = rv.Vault.IngestLive(ctx, actor, fleet.LiveSegment{DeviceID: seg.DeviceID, RecordingID: seg.RecordingID,
		Seq: seg.Seq, StartAt: seg.Start, EndAt: seg.End, SHA256: seg.SHA256, SizeBytes: seg.SizeBytes,
		Reason: seg.Reason}, f)
	return err
}
