// Package ais decodes AIS (ITU-R M.1371) messages from the NMEA 0183
// !AIVDM/!AIVDO sentences that vessels' AIS units report over MQTT.
//
// It owns the three layers between a line of text and a Message: framing
// (nmea.go: tag blocks, checksums, fields), reassembly of multi-sentence
// messages (assemble.go) and payload decoding (sixbit.go, decode*.go).
// Values the standard reserves for "not available", and positions out of
// range, come out as absent fields, never as numbers. It imports nothing
// but the standard library; where messages go is the caller's business.
package ais

import (
	"errors"
	"strings"
)

// Config tunes a Decoder. The zero value is strict with default bounds.
type Config struct {
	// IgnoreChecksum accepts sentences and tag blocks whose checksum is
	// wrong or missing. Strict is the default: a corrupted position is
	// worse than a lost one, and the next report comes within seconds.
	IgnoreChecksum bool
	// LenientArmour reads payload characters outside the armouring
	// alphabet as 0, as pyais does, instead of rejecting the sentence.
	LenientArmour bool
	// MaxPending caps the multi-sentence messages waiting for fragments;
	// the oldest is evicted to make room. Default 16.
	MaxPending int
	// MaxAge drops a pending message when this many sentences have
	// arrived since its first fragment. Fragments of one message are
	// normally adjacent or close; default 64.
	MaxAge int
}

// Stats counts what a Decoder has seen. Each error kind has its counter;
// one returned error is one count.
type Stats struct {
	Lines     uint64 // non-empty lines
	Skipped   uint64 // sentences other than VDM/VDO ($PGHP, $..VSI, …), skipped silently
	Messages  uint64 // messages returned, Undecoded ones included
	Undecoded uint64 // messages of types this package does not decode
	Truncated uint64 // messages returned with Truncated set

	Checksum    uint64 // ErrChecksum
	Malformed   uint64 // ErrMalformed
	TooShort    uint64 // ErrTruncated: no message at all
	UnknownType uint64 // ErrUnknownType
	OutOfOrder  uint64 // ErrOutOfOrder
	Orphan      uint64 // ErrOrphan
	Incomplete  uint64 // ErrIncomplete
	Evicted     uint64 // ErrEvicted
	Expired     uint64 // ErrExpired

	Pending int // multi-sentence messages waiting for fragments now
}

// Decoder turns NMEA lines into AIS messages. It keeps the fragments of
// multi-sentence messages between calls, so use one Decoder per feed (per
// device): fragments of one receiver must not be matched with another's.
// A Decoder is not safe for concurrent use.
type Decoder struct {
	cfg   Config
	asm   assembler
	one   bits // payload of the single-sentence message being decoded
	stats Stats
	errs  []error
}

// NewDecoder returns a Decoder configured by cfg.
func NewDecoder(cfg Config) *Decoder {
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 16
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 64
	}
	d := &Decoder{cfg: cfg}
	d.asm = assembler{maxPending: cfg.MaxPending, maxAge: uint64(cfg.MaxAge)}
	d.asm.drop = d.fail
	return d
}

// Feed decodes the NMEA lines in data (one line, or several separated by
// CR and/or LF, as one MQTT payload may carry) and returns the messages
// they complete, in completion order. The error joins every failure in
// data; lines after a failed one are still decoded.
func (d *Decoder) Feed(data string) ([]Message, error) {
	return d.Append(nil, data)
}

// Append is Feed that appends the messages to dst, so a caller that
// reuses dst decodes without allocating.
func (d *Decoder) Append(dst []Message, data string) ([]Message, error) {
	d.errs = d.errs[:0]
	for data != "" {
		// IndexByte is vectorised where IndexAny is not; a CR alone as a
		// separator is rare and handled by the second cut.
		line, rest := data, ""
		if i := strings.IndexByte(data, '\n'); i >= 0 {
			line, rest = data[:i], data[i+1:]
		}
		if i := strings.IndexByte(line, '\r'); i >= 0 && i < len(line)-1 {
			line, rest = line[:i], data[i+1:]
		}
		data = rest
		dst = d.line(dst, line)
	}
	d.stats.Pending = len(d.asm.pending)
	switch len(d.errs) {
	case 0:
		return dst, nil
	case 1:
		return dst, d.errs[0]
	}
	return dst, errors.Join(d.errs...)
}

// Stats returns the counts so far.
func (d *Decoder) Stats() Stats { return d.stats }

// line handles one line: framing, then reassembly, then decoding.
func (d *Decoder) line(dst []Message, line string) []Message {
	line = strings.TrimSpace(line)
	if line == "" {
		return dst
	}
	d.stats.Lines++
	s, err := parseSentence(line, d.cfg.IgnoreChecksum)
	if err == errNotAIS {
		d.stats.Skipped++
		return dst
	}
	if err != nil {
		d.fail(err)
		return dst
	}
	d.asm.tick()

	p, tag := &d.one, &s.tag
	if s.total > 1 {
		g, err := d.asm.add(&s, d.cfg.LenientArmour)
		if err != nil {
			d.fail(err)
		}
		if g == nil {
			return dst
		}
		defer d.asm.release(g)
		p, tag = &g.bits, &g.tag
	} else {
		p.reset()
		if err := p.appendArmoured(s.payload, d.cfg.LenientArmour); err != nil {
			d.fail(err)
			return dst
		}
		if err := p.dropFill(s.fill); err != nil {
			d.fail(err)
			return dst
		}
	}

	dst = append(dst, Message{
		Talker:    s.talker,
		Own:       s.own,
		Channel:   s.channel,
		TagSource: tag.source,
		TagTime:   tag.time,
	})
	m := &dst[len(dst)-1]
	if err := decodeBits(m, p); err != nil {
		d.fail(err)
		return dst[:len(dst)-1]
	}
	d.stats.Messages++
	if m.Undecoded {
		d.stats.Undecoded++
	}
	if m.Truncated {
		d.stats.Truncated++
	}
	return dst
}

// fail counts err under its kind and keeps it for the caller.
func (d *Decoder) fail(err error) {
	c := &d.stats
	switch {
	case errors.Is(err, ErrChecksum):
		c.Checksum++
	case errors.Is(err, ErrMalformed):
		c.Malformed++
	case errors.Is(err, ErrTruncated):
		c.TooShort++
	case errors.Is(err, ErrUnknownType):
		c.UnknownType++
	case errors.Is(err, ErrOutOfOrder):
		c.OutOfOrder++
	case errors.Is(err, ErrOrphan):
		c.Orphan++
	case errors.Is(err, ErrIncomplete):
		c.Incomplete++
	case errors.Is(err, ErrEvicted):
		c.Evicted++
	case errors.Is(err, ErrExpired):
		c.Expired++
	}
	d.errs = append(d.errs, err)
}
