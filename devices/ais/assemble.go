package ais

import "fmt"

// groupKey is what the fragments of one message share. The sequence id
// alone is not enough: receivers reuse ids 0-9 on each channel
// independently and interleave them (gpsd's "channel multiplexing"
// sample), and two talkers on one feed number their messages
// independently.
type groupKey struct {
	talker  string
	own     bool
	total   int
	seq     int
	channel byte
}

// group collects the fragments of one message as they arrive.
type group struct {
	key    groupKey
	source string   // tag block s: of the first fragment, "" when none
	next   int      // number of the fragment expected next
	born   uint64   // assembler clock at the first fragment, for expiry
	tag    tagBlock // tag block fields, from the first fragment that has them
	bits   bits     // payload so far, de-armoured
}

// assembler reassembles multi-sentence messages. It holds at most
// maxPending groups and forgets a group maxAge sentences after its first
// fragment, so memory stays bounded whatever the feed does; both are
// counted rather than silent.
type assembler struct {
	pending    []*group // oldest first
	free       []*group // released groups, kept for their buffers
	maxPending int
	maxAge     uint64
	clock      uint64 // VDM/VDO sentences seen
	// drop reports a group dropped for reasons other than the fragment
	// being added (expiry, eviction, restart), so every loss is counted.
	drop func(error)
}

// tick advances the clock by one sentence and expires stale groups. It
// runs for every sentence, single-fragment ones included, because age is
// counted in sentences: a feed that stops has nothing to expire for.
func (a *assembler) tick() {
	a.clock++
	for len(a.pending) > 0 && a.clock-a.pending[0].born > a.maxAge {
		g := a.pending[0]
		a.remove(0)
		a.drop(fmt.Errorf("%w: %s fragment %d of %d not seen within %d sentences", ErrExpired, g.key, g.next, g.key.total, a.maxAge))
	}
}

// add takes one fragment of a multi-sentence message. It returns the
// group when this fragment completes it; the caller decodes g.bits and
// then calls release(g).
func (a *assembler) add(s *sentence, lenientArmour bool) (*group, error) {
	key := groupKey{talker: s.talker, own: s.own, total: s.total, seq: s.seq, channel: s.channel}

	if s.num == 1 {
		if i := a.find(key, s.tag.source, true); i >= 0 {
			g := a.pending[i]
			a.remove(i)
			a.drop(fmt.Errorf("%w: %s had %d of %d fragments when a new first fragment arrived", ErrIncomplete, key, g.next-1, key.total))
		}
		if len(a.pending) >= a.maxPending {
			g := a.pending[0]
			a.remove(0)
			a.drop(fmt.Errorf("%w: %s, %d groups pending", ErrEvicted, g.key, a.maxPending))
		}
		g := a.get()
		g.key, g.source, g.next, g.born, g.tag = key, s.tag.source, 2, a.clock, s.tag
		if err := g.bits.appendArmoured(s.payload, lenientArmour); err != nil {
			a.release(g)
			return nil, err
		}
		a.pending = append(a.pending, g)
		return nil, nil
	}

	i := a.find(key, s.tag.source, false)
	if i < 0 {
		return nil, fmt.Errorf("%w: %s fragment %d of %d", ErrOrphan, key, s.num, s.total)
	}
	g := a.pending[i]
	if s.num != g.next {
		a.remove(i)
		return nil, fmt.Errorf("%w: %s fragment %d, expected %d; group dropped", ErrOutOfOrder, key, s.num, g.next)
	}
	if err := g.bits.appendArmoured(s.payload, lenientArmour); err != nil {
		a.remove(i)
		return nil, fmt.Errorf("%w; group dropped", err)
	}
	if g.tag.source == "" {
		g.tag.source = s.tag.source
	}
	if !g.tag.time.Valid {
		g.tag.time = s.tag.time
	}
	if s.num < s.total {
		g.next++
		return nil, nil
	}
	// Fill bits belong to the last fragment only: the ones before it end
	// on a character boundary.
	a.pending = append(a.pending[:i], a.pending[i+1:]...)
	if err := g.bits.dropFill(s.fill); err != nil {
		a.release(g)
		return nil, err
	}
	return g, nil
}

// find returns the index of the newest pending group for key, or -1. A
// fragment without a tag block source matches a group that has one:
// feeds such as ORBCOMM's put the full tag block only on the first line.
func (a *assembler) find(key groupKey, source string, exact bool) int {
	for i := len(a.pending) - 1; i >= 0; i-- {
		g := a.pending[i]
		if g.key == key && (g.source == source || (!exact && source == "")) {
			return i
		}
	}
	return -1
}

// remove drops pending[i] and recycles it.
func (a *assembler) remove(i int) {
	g := a.pending[i]
	a.pending = append(a.pending[:i], a.pending[i+1:]...)
	a.release(g)
}

func (a *assembler) get() *group {
	if n := len(a.free); n > 0 {
		g := a.free[n-1]
		a.free = a.free[:n-1]
		return g
	}
	return &group{}
}

func (a *assembler) release(g *group) {
	g.bits.reset()
	g.tag, g.source = tagBlock{}, ""
	a.free = append(a.free, g)
}

func (k groupKey) String() string {
	ch := "-"
	if k.channel != 0 {
		ch = string(k.channel)
	}
	return fmt.Sprintf("talker %s seq %d channel %s", k.talker, k.seq, ch)
}
