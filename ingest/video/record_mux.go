package video

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	mcodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
)

// recMuxer writes a stream's media into fragmented-MP4 segment files, as
// MediaMTX's recorder does: each file is an init block (ftyp, moov) and
// then fragments (moof, mdat) of about partDur, flushed as they fill, so
// that a segment is never held whole in memory. A segment starts at a
// video random-access unit (or, without video, at any audio unit) and is
// cut at the first random-access unit segDur or more after its start, or
// where the codec parameters change. Its SHA-256 is taken of the bytes as
// they are written.
//
// Video samples wait for the next one to learn their duration; audio
// samples carry theirs (1024 samples per AAC unit, the Opus packet's own).
// An audio unit that arrives after the cut but belongs before it is
// dropped: the segment it belongs to is closed.
//
// A recMuxer is used by one goroutine at a time: the reader's, then,
// once the reader has stopped, the recording's to close it.
type recMuxer struct {
	dir      string
	prefix   string // file names: {prefix}-{seq}.mp4
	segDur   time.Duration
	partDur  time.Duration
	tracks   []*recTrack
	byFormat map[format.Format]*recTrack
	hasVideo bool
	codecs   []string // what the recording carries, e.g. "H264", "MPEG-4 Audio"
	skipped  []string // what it leaves out, e.g. "G711"

	// done is called with each closed segment; fail with each problem
	// (kind as in the stream error kinds).
	done func(segmentFile)
	fail func(kind string, err error)

	seg     *recSegment
	nextSeq int
}

// segmentFile is a closed segment on disk.
type segmentFile struct {
	seq      int
	path     string
	size     int64
	sha256   string
	start    time.Time // wall clock of the first sample, as the relay received it
	duration time.Duration
}

// recTrack is one format of the stream as an fMP4 track.
type recTrack struct {
	init      *fmp4.InitTrack
	clockRate int64
	video     bool
	feed      func(u unit)

	pending *recSample // video: the newest sample, until the next gives its duration
	lastDur uint32     // video: the last duration, for the final sample
}

type recSample struct {
	fmp4.Sample
	dts int64     // in the track's clock
	ntp time.Time // when the relay received it
}

// recSegment is the open segment file.
type recSegment struct {
	seq      int
	path     string
	f        *os.File
	w        io.Writer // f and hash
	hash     hash.Hash
	size     int64
	startDTS time.Duration // stream time of the first sample
	endDTS   time.Duration // stream time after the last sample
	startNTP time.Time

	part      []*partTrack // the fragment being filled, by track
	partStart time.Duration
	partSeq   uint32
}

type partTrack struct {
	tr   *recTrack
	pt   *fmp4.PartTrack
	next int64 // dts the next sample should have
}

var errNoRecordableTrack = errors.New("the stream has no track that can be recorded into MP4")

// newRecMuxer maps desc's formats to tracks: the first H.264 or H.265
// video and the first AAC or Opus audio. G.711 is left out: MP4 players
// do not take it as is, and nothing is transcoded.
func newRecMuxer(desc *description.Session, dir, prefix string, segDur, partDur time.Duration) (*recMuxer, error) {
	m := &recMuxer{dir: dir, prefix: prefix, segDur: segDur, partDur: partDur,
		byFormat: make(map[format.Format]*recTrack), nextSeq: 1}
	var video, audio bool
	for _, medi := range desc.Medias {
		for _, forma := range medi.Formats {
			isVideo := medi.Type == description.MediaTypeVideo
			if (isVideo && video) || (!isVideo && audio) {
				m.skipped = append(m.skipped, forma.Codec())
				continue
			}
			tr, err := m.track(forma)
			if err != nil {
				return nil, err
			}
			if tr == nil {
				m.skipped = append(m.skipped, forma.Codec())
				continue
			}
			tr.init.ID = len(m.tracks) + 1
			m.tracks = append(m.tracks, tr)
			m.byFormat[forma] = tr
			m.codecs = append(m.codecs, forma.Codec())
			video = video || tr.video
			audio = audio || !tr.video
		}
	}
	if len(m.tracks) == 0 {
		return nil, errNoRecordableTrack
	}
	m.hasVideo = video
	return m, nil
}

func (m *recMuxer) consume(u unit) {
	if tr := m.byFormat[u.format]; tr != nil {
		tr.feed(u)
	}
}

// track builds the track of a format and the function that depacketizes
// its RTP into samples; nil for a format the recording leaves out.
// Decoders keep state between packets and run on the reader's goroutine.
func (m *recMuxer) track(forma format.Format) (*recTrack, error) {
	switch f := forma.(type) {
	case *format.H264:
		sps, pps := f.SafeParams()
		params := &h264Params{sps: sps, pps: pps}
		codec := &mcodecs.H264{SPS: sps, PPS: pps}
		tr := &recTrack{init: &fmp4.InitTrack{TimeScale: uint32(f.ClockRate()), Codec: codec},
			clockRate: int64(f.ClockRate()), video: true}
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, fmt.Errorf("video: H.264 decoder: %w", err)
		}
		var dtsOf *h264.DTSExtractor
		tr.feed = func(u unit) {
			au, err := dec.Decode(u.pkt)
			switch {
			case errors.Is(err, rtph264.ErrMorePacketsNeeded), errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious):
				return
			case err != nil:
				m.fail(errDecode, err)
				return
			case !u.ptsOK:
				return
			}
			au = params.complete(au)
			key := randomAccessH264(au)
			changed := false
			if key && params.sps != nil && params.pps != nil &&
				(!slices.Equal(codec.SPS, params.sps) || !slices.Equal(codec.PPS, params.pps)) {
				codec.SPS, codec.PPS, changed = params.sps, params.pps, true
			}
			if dtsOf == nil {
				if !key || codec.SPS == nil || codec.PPS == nil {
					return // nothing decodes before the first random-access unit
				}
				dtsOf = &h264.DTSExtractor{}
				dtsOf.Initialize()
			}
			dts, err := dtsOf.Extract(au, u.pts)
			if err != nil {
				m.fail(errDecode, err)
				dtsOf = nil // start again at the next random-access unit
				return
			}
			s := recSample{dts: dts, ntp: u.ntp}
			if err := s.FillH264(int32(u.pts-dts), au); err != nil {
				m.fail(errMux, err)
				return
			}
			m.writeVideo(tr, s, key, changed)
		}
		return tr, nil

	case *format.H265:
		vps, sps, pps := f.SafeParams()
		params := &h265Params{vps: vps, sps: sps, pps: pps}
		codec := &mcodecs.H265{VPS: vps, SPS: sps, PPS: pps}
		tr := &recTrack{init: &fmp4.InitTrack{TimeScale: uint32(f.ClockRate()), Codec: codec},
			clockRate: int64(f.ClockRate()), video: true}
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, fmt.Errorf("video: H.265 decoder: %w", err)
		}
		var dtsOf *h265.DTSExtractor
		tr.feed = func(u unit) {
			au, err := dec.Decode(u.pkt)
			switch {
			case errors.Is(err, rtph265.ErrMorePacketsNeeded), errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious):
				return
			case err != nil:
				m.fail(errDecode, err)
				return
			case !u.ptsOK:
				return
			}
			au = params.complete(au)
			key := randomAccessH265(au)
			changed := false
			if key && params.vps != nil && params.sps != nil && params.pps != nil &&
				(!slices.Equal(codec.VPS, params.vps) || !slices.Equal(codec.SPS, params.sps) ||
					!slices.Equal(codec.PPS, params.pps)) {
				codec.VPS, codec.SPS, codec.PPS, changed = params.vps, params.sps, params.pps, true
			}
			if dtsOf == nil {
				if !key || codec.VPS == nil || codec.SPS == nil || codec.PPS == nil {
					return
				}
				dtsOf = &h265.DTSExtractor{}
				dtsOf.Initialize()
			}
			dts, err := dtsOf.Extract(au, u.pts)
			if err != nil {
				m.fail(errDecode, err)
				dtsOf = nil
				return
			}
			s := recSample{dts: dts, ntp: u.ntp}
			if err := s.FillH265(int32(u.pts-dts), au); err != nil {
				m.fail(errMux, err)
				return
			}
			m.writeVideo(tr, s, key, changed)
		}
		return tr, nil

	case *format.MPEG4Audio:
		// Timed in samples: the RTP clock must be the sample rate.
		if f.Config == nil || f.ClockRate() != f.Config.SampleRate {
			return nil, nil
		}
		tr := &recTrack{init: &fmp4.InitTrack{TimeScale: uint32(f.ClockRate()),
			Codec: &mcodecs.MPEG4Audio{Config: *f.Config}}, clockRate: int64(f.ClockRate())}
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, fmt.Errorf("video: AAC decoder: %w", err)
		}
		tr.feed = func(u unit) {
			aus, err := dec.Decode(u.pkt)
			switch {
			case errors.Is(err, rtpmpeg4audio.ErrMorePacketsNeeded):
				return
			case err != nil:
				m.fail(errDecode, err)
				return
			case !u.ptsOK:
				return
			}
			for i, au := range aus {
				dts := u.pts + int64(i)*mpeg4audio.SamplesPerAccessUnit
				m.writeAudio(tr, recSample{Sample: fmp4.Sample{Duration: mpeg4audio.SamplesPerAccessUnit, Payload: au},
					dts: dts, ntp: u.ntp})
			}
		}
		return tr, nil

	case *format.Opus:
		tr := &recTrack{init: &fmp4.InitTrack{TimeScale: uint32(f.ClockRate()),
			Codec: &mcodecs.Opus{ChannelCount: f.ChannelCount}}, clockRate: int64(f.ClockRate())}
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, fmt.Errorf("video: Opus decoder: %w", err)
		}
		tr.feed = func(u unit) {
			pkt, err := dec.Decode(u.pkt)
			switch {
			case err != nil:
				m.fail(errDecode, err)
				return
			case !u.ptsOK:
				return
			}
			d := opus.PacketDuration2(pkt)
			if d <= 0 {
				return
			}
			m.writeAudio(tr, recSample{Sample: fmp4.Sample{Duration: uint32(d), Payload: pkt}, dts: u.pts, ntp: u.ntp})
		}
		return tr, nil
	}
	return nil, nil
}

// toDur converts a time in a track's clock to stream time.
func (tr *recTrack) toDur(ts int64) time.Duration {
	sec, rem := ts/tr.clockRate, ts%tr.clockRate
	return time.Duration(sec)*time.Second + time.Duration(rem)*time.Second/time.Duration(tr.clockRate)
}

// toTS converts stream time to a track's clock.
func (tr *recTrack) toTS(d time.Duration) int64 {
	sec, rem := int64(d/time.Second), int64(d%time.Second)
	return sec*tr.clockRate + rem*tr.clockRate/int64(time.Second)
}

func (m *recMuxer) writeVideo(tr *recTrack, s recSample, key, paramsChanged bool) {
	if p := tr.pending; p != nil {
		tr.pending = nil
		if d := s.dts - p.dts; d > 0 {
			p.Duration, tr.lastDur = uint32(d), uint32(d)
		} else {
			p.Duration = 0
		}
		m.put(tr, *p)
	}
	at := tr.toDur(s.dts)
	if key && (m.seg == nil || paramsChanged || at-m.seg.startDTS >= m.segDur) {
		m.closeSegment()
		m.openSegment(at, s.ntp)
	}
	if m.seg == nil {
		return // waiting for a random-access unit
	}
	tr.pending = &s
}

func (m *recMuxer) writeAudio(tr *recTrack, s recSample) {
	at := tr.toDur(s.dts)
	switch {
	case m.seg == nil && m.hasVideo:
		return // a recording starts with a picture
	case m.seg == nil:
		m.openSegment(at, s.ntp)
	case !m.hasVideo && at-m.seg.startDTS >= m.segDur:
		m.closeSegment()
		m.openSegment(at, s.ntp)
	}
	if m.seg != nil {
		m.put(tr, s)
	}
}

// put adds a sample with its duration to the open segment's fragment,
// flushing the fragment first when it is full.
func (m *recMuxer) put(tr *recTrack, s recSample) {
	seg := m.seg
	if seg == nil {
		return
	}
	base := tr.toTS(seg.startDTS)
	if s.dts < base {
		// Audio of just before the cut that came after the picture the
		// segment starts with: fMP4 has no time before a file's start.
		// As in MediaMTX, it is dropped (a frame or two per segment).
		return
	}
	at := tr.toDur(s.dts)
	if seg.part != nil && at-seg.partStart >= m.partDur {
		m.flushPart()
		if m.seg == nil {
			return // the write failed and the segment was dropped
		}
	}
	if seg.part == nil {
		seg.partStart = at
	}
	var pt *partTrack
	for _, p := range seg.part {
		if p.tr == tr {
			pt = p
		}
	}
	if pt == nil {
		pt = &partTrack{tr: tr, pt: &fmp4.PartTrack{ID: tr.init.ID, BaseTime: uint64(s.dts - base)}, next: s.dts}
		seg.part = append(seg.part, pt)
	}
	// Samples of a fragment follow each other: a gap (lost audio) widens
	// the sample before it, an overlap is dropped.
	switch {
	case s.dts < pt.next:
		return
	case s.dts > pt.next && len(pt.pt.Samples) > 0:
		pt.pt.Samples[len(pt.pt.Samples)-1].Duration += uint32(s.dts - pt.next)
	}
	sample := s.Sample
	pt.pt.Samples = append(pt.pt.Samples, &sample)
	pt.next = s.dts + int64(s.Duration)
	if end := tr.toDur(pt.next); end > seg.endDTS {
		seg.endDTS = end
	}
}

// openSegment creates the next segment file and writes its init block.
func (m *recMuxer) openSegment(start time.Duration, ntp time.Time) {
	seq := m.nextSeq
	m.nextSeq++
	path := filepath.Join(m.dir, fmt.Sprintf("%s-%03d.mp4", m.prefix, seq))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		m.fail(errRecordWrite, fmt.Errorf("create segment: %w", err))
		return
	}
	h := sha256.New()
	seg := &recSegment{seq: seq, path: path, f: f, w: io.MultiWriter(f, h), hash: h,
		startDTS: start, endDTS: start, startNTP: ntp, partSeq: 1}
	m.seg = seg
	init := fmp4.Init{}
	for _, tr := range m.tracks {
		init.Tracks = append(init.Tracks, tr.init)
	}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		m.dropSegment(fmt.Errorf("MP4 init: %w", err))
		return
	}
	m.writeOut(buf.Bytes())
}

// flushPart writes the fragment being filled.
func (m *recMuxer) flushPart() {
	seg := m.seg
	if seg == nil || len(seg.part) == 0 {
		return
	}
	part := fmp4.Part{SequenceNumber: seg.partSeq}
	for _, p := range seg.part {
		part.Tracks = append(part.Tracks, p.pt)
	}
	seg.part = nil
	seg.partSeq++
	var buf seekablebuffer.Buffer
	if err := part.Marshal(&buf); err != nil {
		m.dropSegment(fmt.Errorf("MP4 fragment: %w", err))
		return
	}
	m.writeOut(buf.Bytes())
}

func (m *recMuxer) writeOut(b []byte) {
	seg := m.seg
	n, err := seg.w.Write(b)
	seg.size += int64(n)
	if err != nil {
		m.dropSegment(fmt.Errorf("write segment: %w", err))
	}
}

// dropSegment gives up the open segment after a write failure (a full
// disk): its file is removed and recording resumes at the next
// random-access unit in a new file.
func (m *recMuxer) dropSegment(err error) {
	seg := m.seg
	m.seg = nil
	for _, tr := range m.tracks {
		tr.pending = nil
	}
	seg.f.Close()
	os.Remove(seg.path)
	m.fail(errRecordWrite, err)
}

// closeSegment writes what is pending, syncs and closes the file, and
// hands it on. The last video sample gets the duration of the one before.
func (m *recMuxer) closeSegment() {
	if m.seg == nil {
		return
	}
	for _, tr := range m.tracks {
		if p := tr.pending; p != nil {
			tr.pending = nil
			p.Duration = tr.lastDur
			m.put(tr, *p)
		}
	}
	m.flushPart()
	seg := m.seg
	if seg == nil {
		return
	}
	m.seg = nil
	err := seg.f.Sync()
	if cerr := seg.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(seg.path)
		m.fail(errRecordWrite, fmt.Errorf("close segment: %w", err))
		return
	}
	m.done(segmentFile{seq: seg.seq, path: seg.path, size: seg.size,
		sha256: hex.EncodeToString(seg.hash.Sum(nil)), start: seg.startNTP, duration: seg.endDTS - seg.startDTS})
}
