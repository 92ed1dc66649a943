package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// Frame geometry and rate of the test pattern: a body-worn recorder's
// live view.
const (
	patternSize = "640x360"
	patternFPS  = 25
)

// pattern is the test video, encoded once: an MP4 file the ffmpeg
// pushers loop without re-encoding, and the same frames as access units
// for the marker source.
type pattern struct {
	file string     // MP4, H.264 only
	aus  [][][]byte // access units, NAL units without start codes
	sps  []byte
	pps  []byte
}

// preparePattern encodes the test pattern into the working directory,
// reusing a file from an earlier run with the same settings.
func preparePattern(ctx context.Context, cfg config, dir string, logf func(string, ...any)) (*pattern, error) {
	name := fmt.Sprintf("pattern-%s-%dfps-gop%d-%s-%ds", patternSize, patternFPS, cfg.gop, cfg.bitrate, cfg.seconds)
	mp4 := filepath.Join(dir, name+".mp4")
	annexB := filepath.Join(dir, name+".h264")
	if _, err := os.Stat(annexB); err != nil {
		logf("encoding the test pattern (%s, %d fps, %s, key frame every %d frames, %d s)", patternSize, patternFPS, cfg.bitrate, cfg.gop, cfg.seconds)
		began := time.Now()
		gop := strconv.Itoa(cfg.gop)
		// Baseline, no B-frames, zero latency: what a recorder's live
		// encoder sends, and what every WebRTC peer decodes.
		err := ffmpeg(ctx, cfg.ffmpeg, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d", patternSize, patternFPS),
			"-t", strconv.Itoa(cfg.seconds), "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
			"-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
			"-b:v", cfg.bitrate, "-maxrate", cfg.bitrate, "-bufsize", cfg.bitrate, "-an", mp4)
		if err != nil {
			return nil, fmt.Errorf("encode the test pattern: %w", err)
		}
		if err := ffmpeg(ctx, cfg.ffmpeg, "-i", mp4, "-c", "copy", "-f", "h264", annexB+".tmp"); err != nil {
			return nil, fmt.Errorf("extract the pattern's H.264: %w", err)
		}
		if err := os.Rename(annexB+".tmp", annexB); err != nil {
			return nil, err
		}
		logf("encoded in %s", time.Since(began).Round(time.Millisecond))
	}
	b, err := os.ReadFile(annexB)
	if err != nil {
		return nil, err
	}
	p := &pattern{file: mp4, aus: accessUnits(splitAnnexB(b))}
	for _, au := range p.aus {
		for _, n := range au {
			switch n[0] & 0x1f {
			case 7:
				p.sps = n
			case 8:
				p.pps = n
			}
		}
		if p.sps != nil && p.pps != nil {
			break
		}
	}
	if len(p.aus) < patternFPS || p.sps == nil || p.pps == nil {
		return nil, fmt.Errorf("%s: %d access units, SPS %t, PPS %t: not a usable H.264 stream", annexB, len(p.aus), p.sps != nil, p.pps != nil)
	}
	return p, nil
}

func ffmpeg(ctx context.Context, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// splitAnnexB cuts an H.264 byte stream at its start codes.
func splitAnnexB(b []byte) [][]byte {
	var nalus [][]byte
	for {
		i := bytes.Index(b, []byte{0, 0, 1})
		if i < 0 {
			if n := bytes.TrimRight(b, "\x00"); len(n) > 0 && len(nalus) > 0 {
				nalus = append(nalus, n)
			}
			return nalus
		}
		// A NAL unit never ends in a zero byte: those belong to the next
		// (four-byte) start code.
		if n := bytes.TrimRight(b[:i], "\x00"); len(n) > 0 {
			nalus = append(nalus, n)
		}
		b = b[i+3:]
	}
}

// accessUnits groups NAL units into access units (H.264 7.4.1.2.3): a
// new one begins at an AUD, SPS, PPS or SEI after a slice, or at a slice
// whose first_mb_in_slice is 0 (its first bit, ue(v) 0, is a 1).
func accessUnits(nalus [][]byte) [][][]byte {
	var aus [][][]byte
	var cur [][]byte
	hasSlice := false
	for _, n := range nalus {
		typ := n[0] & 0x1f
		isSlice := typ >= 1 && typ <= 5
		starts := hasSlice && ((typ >= 6 && typ <= 9) || (typ >= 14 && typ <= 18) ||
			(isSlice && len(n) > 1 && n[1]&0x80 != 0))
		if starts {
			aus = append(aus, cur)
			cur, hasSlice = nil, false
		}
		cur = append(cur, n)
		hasSlice = hasSlice || isSlice
	}
	if hasSlice {
		aus = append(aus, cur)
	}
	return aus
}

// withMark returns au with a marker SEI before its first slice.
func withMark(au [][]byte, m mark) [][]byte {
	out := make([][]byte, 0, len(au)+1)
	sei := encodeMarkerSEI(m)
	for _, n := range au {
		if typ := n[0] & 0x1f; sei != nil && typ >= 1 && typ <= 5 {
			out = append(out, sei)
			sei = nil
		}
		out = append(out, n)
	}
	return out
}
