package main

import (
	"math"
	"slices"
	"time"
)

// schedule is an open-loop send plan: message k is due at start + (k +
// phase) × every, whatever happened to the messages before it. A sender
// that falls behind sends late messages at once (and their lateness is
// measured) rather than stretching the plan, so a slow system under test
// cannot lower the offered load: the coordinated-omission trap of
// closed-loop generators.
type schedule struct {
	start time.Time
	every float64 // nanoseconds between messages
	phase float64 // in messages, 0 ≤ phase < 1: spreads several senders' messages apart
}

// newSchedule plans rate messages per second from start.
func newSchedule(start time.Time, rate, phase float64) schedule {
	return schedule{start: start, every: 1e9 / rate, phase: phase}
}

// at is when message k is due.
func (s schedule) at(k int64) time.Time {
	return s.start.Add(time.Duration(math.Round((float64(k) + s.phase) * s.every)))
}

// due is the number of messages due by now: those with k < due(now).
func (s schedule) due(now time.Time) int64 {
	d := float64(now.Sub(s.start))/s.every - s.phase
	if d < 0 {
		return 0
	}
	return int64(math.Floor(d)) + 1
}

// percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted; 0 for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := rankOf(p, int64(len(sorted)))
	return sorted[min(int(rank), len(sorted))-1]
}

// rankOf is the nearest rank (1-based) of the p-th percentile of n
// samples. The small epsilon keeps 99.9 % of 1,000 at rank 999 despite
// 0.999 × 1000 coming out a hair above 999 in floating point.
func rankOf(p float64, n int64) int64 {
	return max(int64(math.Ceil(p/100*float64(n)-1e-9)), 1)
}

// summary is the percentiles the report prints.
type summary struct {
	n                       int
	p50, p90, p99, p999, mx time.Duration
}

func summarize(samples []time.Duration) summary {
	s := slices.Clone(samples)
	slices.Sort(s)
	out := summary{n: len(s), p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99),
		p999: percentile(s, 99.9)}
	if len(s) > 0 {
		out.mx = s[len(s)-1]
	}
	return out
}

// histogram counts durations in buckets of width, up to limit; longer
// ones land in an overflow bucket, whose percentile reads as the largest
// sample seen. It takes millions of samples in constant memory, where a
// millisecond of resolution is enough (the generator's own lateness).
type histogram struct {
	width  time.Duration
	counts []int64
	n      int64
	max    time.Duration
}

func newHistogram(width, limit time.Duration) *histogram {
	return &histogram{width: width, counts: make([]int64, int(limit/width)+1)}
}

func (h *histogram) add(d time.Duration) {
	d = max(d, 0)
	i := min(int(d/h.width), len(h.counts)-1)
	h.counts[i]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// percentile is the upper edge of the bucket holding the nearest-rank
// p-th percentile, capped at the largest sample seen.
func (h *histogram) percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := rankOf(p, h.n)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank && i < len(h.counts)-1 {
			return min(time.Duration(i+1)*h.width, h.max)
		} else if seen >= rank {
			break
		}
	}
	return h.max
}
