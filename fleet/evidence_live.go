package fleet

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// Where an evidence item came from (EvidenceItem.Source).
const (
	EvidenceDock = "dock" // a recorder's file offloaded at a dock station
	EvidenceLive = "live" // a live stream the video relay recorded
)

// LiveSegment is one segment of a live stream that the video relay
// recorded into an MP4 file, on a commander's request or an SOS.
type LiveSegment struct {
	DeviceID    string
	RecordingID string // the relay's recording, e.g. "rec_…"
	Seq         int    // 1, 2, … within the recording
	StartAt     time.Time
	EndAt       time.Time
	SHA256      string // of the file as the relay wrote it
	SizeBytes   int64
	Reason      string // why the stream was recorded: required
}

// SystemActor is the actor of what the service decides by itself: an SOS
// recording, retention.
func SystemActor() User { return system }

// IngestLive files a live-recorded segment as evidence. The bytes go to
// the blob store, which hashes them again and refuses them unless they
// hash to seg.SHA256; then the item is recorded with source "live" (no
// station, no offload), the officer who held the device when the segment
// started and the unit it is filed under (as Ingest does), and its custody
// begins with an ingest entry whose actor is who asked for the recording
// (the commander, or SystemActor for an SOS) and whose reason is theirs.
// The caller vouches for actor: the web layer checked their permission
// when the recording started. A file already in the vault is not stored
// again: IngestLive returns its item and created=false.
func (v *Vault) IngestLive(ctx context.Context, actor User, seg LiveSegment, body io.Reader) (it EvidenceItem, created bool, err error) {
	sum, err := CheckSHA256("sha256", seg.SHA256)
	if err != nil {
		return it, false, err
	}
	reason, err := checkText("reason", seg.Reason, 500, true)
	if err != nil {
		return it, false, err
	}
	switch {
	case strings.TrimSpace(actor.ID) == "":
		return it, false, Invalid("actor", "who asked for the recording is required")
	case strings.TrimSpace(seg.DeviceID) == "":
		return it, false, Invalid("device_id", "the recorded device is required")
	case seg.SizeBytes <= 0:
		return it, false, Invalid("size_bytes", "the file is empty")
	case seg.StartAt.IsZero():
		return it, false, Invalid("start_at", "the segment's start time is required")
	case seg.EndAt.Before(seg.StartAt):
		return it, false, Invalid("end_at", "the segment ends before it starts")
	case seg.Seq < 1:
		return it, false, Invalid("seq", "segments are numbered from 1")
	}
	name := fmt.Sprintf("live-%s-%s-%03d.mp4", seg.StartAt.UTC().Format("20060102T150405Z"), seg.RecordingID, seg.Seq)
	if _, err := CheckFileName(name); err != nil {
		return it, false, Invalid("recording_id", "recording id %q cannot name a file", seg.RecordingID)
	}

	// The device is checked first, so that a segment of an unknown one
	// leaves no file behind.
	if err := v.store.ViewEvidence(ctx, func(tx EvidenceTx) error {
		_, err := tx.Device(ctx, seg.DeviceID)
		return err
	}); ErrorCode(err) == ENOTFOUND {
		return it, false, &Error{Code: ENOTFOUND, Field: "device_id", Message: "no such device"}
	} else if err != nil {
		return it, false, err
	}
	if prev, ok, err := v.liveBySHA(ctx, sum); err != nil {
		return it, false, err
	} else if ok {
		return prev, false, nil
	}
	if err := v.blobs.Put(ctx, sum, seg.SizeBytes, body); err != nil {
		return it, false, fmt.Errorf("store live recording %s: %w", name, err)
	}
	err = v.store.UpdateEvidence(ctx, func(tx EvidenceTx) error {
		if prev, err := tx.EvidenceItemBySHA256(ctx, sum); err == nil && prev.DeletedAt == nil {
			it = prev
			return nil
		} else if err != nil && ErrorCode(err) != ENOTFOUND {
			return err
		}
		// As in Ingest: an orphan sweep may have removed the file between
		// Put and here, and the item must not outlive its file.
		if _, err := v.blobs.Stat(ctx, sum); ErrorCode(err) == ENOTFOUND {
			return Errorf(EUNAVAILABLE, "the stored file %s was removed as an orphan meanwhile; store it again", name)
		} else if err != nil {
			return err
		}
		d, err := tx.Device(ctx, seg.DeviceID)
		if ErrorCode(err) == ENOTFOUND {
			return &Error{Code: ENOTFOUND, Field: "device_id", Message: "no such device"}
		} else if err != nil {
			return err
		}
		officer, unit, err := holderAt(ctx, tx, d, seg.StartAt)
		if err != nil {
			return err
		}
		end := seg.EndAt.UTC()
		it = EvidenceItem{ID: NewID("evd"), SHA256: sum, SizeBytes: seg.SizeBytes, FileType: FileMP4, FileName: name,
			DeviceID: d.ID, OfficerID: officer, UnitID: unit, Source: EvidenceLive,
			StartAt: seg.StartAt.UTC(), EndAt: &end, DurationMS: seg.EndAt.Sub(seg.StartAt).Milliseconds(),
			IngestedAt: v.now().UTC(), Category: CategoryNoIncident, Version: 1}
		it.RetainUntil = v.policy.RetainUntil(it)
		if err := tx.CreateEvidenceItem(ctx, it); err != nil {
			return err
		}
		created = true
		if err := v.custody(ctx, tx, actor, it.ID, CustodyIngest, reason,
			fmt.Sprintf("source=live recording=%s segment=%d sha256=%s size_bytes=%d", seg.RecordingID, seg.Seq, sum,
				seg.SizeBytes)); err != nil {
			return err
		}
		return v.audit(ctx, tx, actor, "evidence.ingest", "evidence", it.ID, it.UnitID, reason, it)
	})
	return it, created, err
}
