package video_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/video"
	"github.com/lawfleet/fleet/internal/testenv"
)

// segmentSink is the RecordingSink of these tests: it keeps a copy of
// each segment (the relay removes the file once stored) and what it was
// told about it. The evidence vault's sink is tested through the API in
// package web.
type segmentSink struct {
	dir string

	mu   sync.Mutex
	segs []video.RecordedSegment // Path is the copy
}

func (s *segmentSink) StoreRecording(_ context.Context, seg video.RecordedSegment) error {
	b, err := os.ReadFile(seg.Path)
	if err != nil {
		return err
	}
	cp := filepath.Join(s.dir, filepath.Base(seg.Path))
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		return err
	}
	seg.Path = cp
	s.mu.Lock()
	defer s.mu.Unlock()
	s.segs = append(s.segs, seg)
	return nil
}

func (s *segmentSink) stored() []video.RecordedSegment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.segs)
}

// mp4Probe is what ffprobe finds in a recorded file.
type mp4Probe struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		Codec     string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		Frames    string `json:"nb_read_frames"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
		Name     string `json:"format_name"`
	} `json:"format"`
}

// probeMP4 has ffprobe decode every frame of file.
func probeMP4(t *testing.T, ffprobe, file string) mp4Probe {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), ffprobe, "-v", "error", "-count_frames",
		"-show_entries", "stream=codec_type,codec_name,width,height,nb_read_frames:format=duration,format_name",
		"-of", "json", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", filepath.Base(file), err, out)
	}
	var p mp4Probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	return p
}

// checkSegment checks a stored segment against what the relay said of
// it: size, SHA-256, and that ffprobe decodes it as video of codec at
// 640x360 (25 fps) lasting about seg.Duration.
func checkSegment(t *testing.T, ffprobe string, seg video.RecordedSegment, codec, audio string) {
	t.Helper()
	b, err := os.ReadFile(seg.Path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if int64(len(b)) != seg.SizeBytes || hex.EncodeToString(sum[:]) != seg.SHA256 {
		t.Errorf("segment %d: %d bytes hashing to %x, told %d bytes and %s", seg.Seq, len(b), sum, seg.SizeBytes, seg.SHA256)
	}
	p := probeMP4(t, ffprobe, seg.Path)
	var gotAudio string
	frames := -1
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			if s.Codec != codec || s.Width != 640 || s.Height != 360 {
				t.Errorf("segment %d video is %s %dx%d, want %s 640x360", seg.Seq, s.Codec, s.Width, s.Height, codec)
			}
			frames, _ = strconv.Atoi(s.Frames)
		case "audio":
			gotAudio = s.Codec
		}
	}
	if gotAudio != audio {
		t.Errorf("segment %d audio %q, want %q", seg.Seq, gotAudio, audio)
	}
	// 25 frames a second: every frame of the segment decodes.
	want := int(math.Round(seg.Duration.Seconds() * 25))
	if frames < want-1 || frames > want+1 {
		t.Errorf("segment %d: %d frames decode, want %d for %v", seg.Seq, frames, want, seg.Duration)
	}
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	if math.Abs(d-seg.Duration.Seconds()) > 0.2 {
		t.Errorf("segment %d: ffprobe says %.3f s, the relay %v", seg.Seq, d, seg.Duration)
	}
	if !seg.End.Equal(seg.Start.Add(seg.Duration)) || seg.Start.IsZero() {
		t.Errorf("segment %d: start %v end %v duration %v", seg.Seq, seg.Start, seg.End, seg.Duration)
	}
}

// A commander asks for a recorder's stream to be recorded: the relay asks
// the recorder to push (StreamStarter), records H.264 + AAC into 2-second
// MP4 segments cut at keyframes, and hands each to the sink as it closes;
// stopping closes and stores the last one. Every segment decodes as the
// 640x360 H.264 with AAC it was given, lasts what the relay says, and
// hashes to the SHA-256 the relay took while writing it.
func TestRecordPushIntoSegments(t *testing.T) {
	ffmpeg, ffprobe := testenv.FFmpeg(t)
	reg := newRegister(t)
	rec := reg.device(t, fleet.KindRecorder, "REC-REC-1", "")
	ais := reg.device(t, fleet.KindAISUnit, "AIS-REC-1", "")
	starter := &recorder{t: t, ffmpeg: ffmpeg}
	sink := &segmentSink{dir: t.TempDir()}
	recDir := t.TempDir()
	r := startRelay(t, video.Config{RecordDir: recDir, RecordSegment: 2 * time.Second, IdleStop: time.Second},
		video.Deps{Auth: reg, Devices: reg, Starter: starter, Recordings: sink})
	starter.url = r.pushURL(rec, rec.ID)

	for _, tc := range []struct {
		name   string
		device string
		req    video.RecordingRequest
		code   string
		field  string
	}{
		{"no reason", rec.ID, video.RecordingRequest{By: "usr_cmd", Reason: "  "}, fleet.EINVALID, "reason"},
		{"too long", rec.ID, video.RecordingRequest{By: "usr_cmd", Reason: "r", MaxDuration: 5 * time.Hour}, fleet.EINVALID, "max_duration"},
		{"no video", ais.ID, video.RecordingRequest{By: "usr_cmd", Reason: "r"}, fleet.EINVALID, ""},
		{"unknown", "dev_nope", video.RecordingRequest{By: "usr_cmd", Reason: "r"}, fleet.ENOTFOUND, ""},
	} {
		_, err := r.StartRecording(t.Context(), tc.device, tc.req)
		var fe *fleet.Error
		if fleet.ErrorCode(err) != tc.code || (tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field)) {
			t.Errorf("%s: err %v, want %s on field %q", tc.name, err, tc.code, tc.field)
		}
	}
	if starts, _, _ := starter.counts(); starts != 0 {
		t.Fatalf("a refused recording asked the recorder to push")
	}

	st, err := r.StartRecording(t.Context(), rec.ID, video.RecordingRequest{By: "usr_cmd", ByName: "cmd.wh", Reason: "escort of a detained vehicle"})
	if err != nil {
		t.Fatalf("StartRecording: %v", err)
	}
	if st.State != video.RecordingWaiting || st.ID == "" || st.By != "usr_cmd" || st.Until == nil ||
		st.Until.Sub(*st.StartedAt) != 30*time.Minute {
		t.Errorf("started = %+v, want waiting until 30 min later", st)
	}
	if _, err := r.StartRecording(t.Context(), rec.ID, video.RecordingRequest{By: "usr_other", Reason: "again"}); fleet.ErrorCode(err) != fleet.ECONFLICT {
		t.Errorf("second recording: %v, want conflict", err)
	}

	waitFor(t, liveWait, "two stored segments", func() bool { return len(sink.stored()) >= 2 })
	if got := r.Recording(rec.ID); got.State != video.RecordingActive || !slices.Contains(got.Codecs, "H264") {
		t.Errorf("recording = %+v, want recording H264", got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	end, err := r.StopRecording(ctx, rec.ID, "usr_cmd")
	if err != nil {
		t.Fatalf("StopRecording: %v", err)
	}
	segs := sink.stored()
	if end.State != video.RecordingStopped || end.StopCause != video.StopRequested || end.StoppedBy != "usr_cmd" ||
		end.Segments != len(segs) || end.Failed != 0 || len(segs) < 3 {
		t.Fatalf("stopped = %+v with %d segments stored, want stopped on request with every segment stored (at least 3)", end, len(segs))
	}
	var total int64
	for i, seg := range segs {
		if seg.Seq != i+1 || seg.DeviceID != rec.ID || seg.RecordingID != st.ID || seg.By != "usr_cmd" ||
			seg.ByName != "cmd.wh" || seg.Reason != "escort of a detained vehicle" {
			t.Errorf("segment %d = %+v", i+1, seg)
		}
		checkSegment(t, ffprobe, seg, "h264", "aac")
		// Cut at the first keyframe (one a second) 2 s or more in; the
		// last one where the recording stopped.
		if i < len(segs)-1 && (seg.Duration < 2*time.Second || seg.Duration > 2200*time.Millisecond) {
			t.Errorf("segment %d lasts %v, want 2 s", seg.Seq, seg.Duration)
		}
		if i > 0 {
			if gap := seg.Start.Sub(segs[i-1].End); gap.Abs() > 500*time.Millisecond {
				t.Errorf("segment %d starts %v after the previous one ends", seg.Seq, gap)
			}
		}
		total += seg.SizeBytes
	}
	if end.StoredBytes != total {
		t.Errorf("stored_bytes %d, want %d", end.StoredBytes, total)
	}
	if left, _ := os.ReadDir(recDir); len(left) != 0 {
		t.Errorf("%d files left in the recording directory after storing", len(left))
	}
	if v := r.metric(t, "fleet_video_recorded_segments_total", map[string]string{"result": "stored"}); int(v) != len(segs) {
		t.Errorf("stored segments metric %v, want %d", v, len(segs))
	}
	if v := r.metric(t, "fleet_video_recordings_active", nil); v != 0 {
		t.Errorf("active recordings %v after stop", v)
	}
	if _, err := r.StopRecording(t.Context(), rec.ID, "usr_cmd"); fleet.ErrorCode(err) != fleet.ENOTFOUND {
		t.Errorf("stop again: %v, want not found", err)
	}
	// The recording held the stream: once it let go, the source stops.
	waitFor(t, liveWait, "the recorder told to stop", func() bool { _, stops, _ := starter.counts(); return stops > 0 })
}

// A recording asked for before the recorder pushes waits for it; when the
// push ends, the recording ends by itself with its last segment closed
// and stored. H.265 is recorded; G.711 audio is left out (MP4 players
// take it only transcoded).
func TestRecordEndsWithSource(t *testing.T) {
	ffmpeg, ffprobe := testenv.FFmpeg(t)
	reg := newRegister(t)
	rec := reg.device(t, fleet.KindRecorder, "REC-REC-2", "")
	sink := &segmentSink{dir: t.TempDir()}
	r := startRelay(t, video.Config{RecordDir: t.TempDir(), RecordSegment: 2 * time.Second},
		video.Deps{Auth: reg, Devices: reg, Recordings: sink})

	st, err := r.StartRecording(t.Context(), rec.ID, video.RecordingRequest{By: "system", Reason: "SOS alert alr_1", MaxDuration: time.Minute})
	if err != nil {
		t.Fatalf("StartRecording: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	if got := r.Recording(rec.ID); got.State != video.RecordingWaiting {
		t.Errorf("before the push: %+v, want waiting", got)
	}
	args := []string{"-hide_banner", "-loglevel", "warning", "-nostdin", "-re",
		"-f", "lavfi", "-i", "testsrc=size=640x360:rate=25", "-f", "lavfi", "-i", "sine", "-t", "5"}
	args = append(append(args, h265G711...), "-f", "rtsp", "-rtsp_transport", "tcp", r.pushURL(rec, rec.ID))
	if _, err := startProcess(t, ffmpeg, args...); err != nil {
		t.Fatal(err)
	}
	var end video.RecordingState
	waitFor(t, liveWait, "the recording to end with its source", func() bool {
		end = r.Recording(rec.ID)
		return end.State == video.RecordingStopped
	})
	segs := sink.stored()
	if end.StopCause != video.StopSourceEnded || end.ID != st.ID || end.Segments != len(segs) || len(segs) < 2 ||
		!slices.Equal(end.Codecs, []string{"H265"}) {
		t.Fatalf("ended = %+v with %d segments, want source_ended, H265 only, at least 2 segments", end, len(segs))
	}
	var sum time.Duration
	for _, seg := range segs {
		checkSegment(t, ffprobe, seg, "hevc", "")
		sum += seg.Duration
	}
	// ffmpeg pushed 5 s; the recording began at the first keyframe.
	if sum < 3500*time.Millisecond || sum > 5500*time.Millisecond {
		t.Errorf("recorded %v of a 5 s push", sum)
	}
}
