package vessels

import (
	"sync"
	"sync/atomic"

	"github.com/lawfleet/fleet/devices/ais"
)

// transport is where a source's lines come from; it labels metrics.
type transport uint8

const (
	transportMQTT transport = iota
	transportUDP
	transportTCP
	transports // count
)

func (t transport) String() string {
	switch t {
	case transportMQTT:
		return "mqtt"
	case transportUDP:
		return "udp"
	case transportTCP:
		return "tcp"
	}
	return "unknown"
}

// sourceKey names one feed: a device id (MQTT), a peer address (UDP) or a
// connection (TCP). Fragments are reassembled within one source only.
type sourceKey struct {
	transport transport
	id        string
}

// source is one feed's decoder and the buffers reused with it. mu
// serialises the feed's lines: a Decoder is not safe for concurrent use.
type source struct {
	mu      sync.Mutex
	dec     *ais.Decoder
	stats   ais.Stats     // as last counted into the metrics
	msgs    []ais.Message // reused between payloads
	pending atomic.Int64  // fragment groups waiting, for the eviction count

	key        sourceKey
	prev, next *source // LRU list, most recent at head
}

// sources is the bounded set of decoders, least recently used evicted.
type sources struct {
	cfg ais.Config
	max int

	mu         sync.Mutex
	byKey      map[sourceKey]*source
	head, tail *source
}

func newSources(max int, cfg ais.Config) *sources {
	return &sources{cfg: cfg, max: max, byKey: make(map[sourceKey]*source)}
}

// get returns key's source, creating it (and evicting the least recently
// used one, reported to evicted) as needed. A source evicted while a
// caller still holds it is finished with normally and then forgotten.
func (s *sources) get(key sourceKey, evicted func(*source)) *source {
	s.mu.Lock()
	defer s.mu.Unlock()
	if src := s.byKey[key]; src != nil {
		s.unlink(src)
		s.pushFront(src)
		return src
	}
	for len(s.byKey) >= s.max && s.tail != nil {
		old := s.tail
		s.unlink(old)
		delete(s.byKey, old.key)
		if evicted != nil {
			evicted(old)
		}
	}
	src := &source{dec: ais.NewDecoder(s.cfg), key: key, msgs: make([]ais.Message, 0, 4)}
	s.byKey[key] = src
	s.pushFront(src)
	return src
}

// drop forgets key's source (a TCP connection that ended) and returns it,
// or nil.
func (s *sources) drop(key sourceKey) *source {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.byKey[key]
	if src != nil {
		s.unlink(src)
		delete(s.byKey, key)
	}
	return src
}

func (s *sources) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byKey)
}

func (s *sources) pushFront(src *source) {
	src.prev, src.next = nil, s.head
	if s.head != nil {
		s.head.prev = src
	}
	s.head = src
	if s.tail == nil {
		s.tail = src
	}
}

func (s *sources) unlink(src *source) {
	if src.prev != nil {
		src.prev.next = src.next
	} else {
		s.head = src.next
	}
	if src.next != nil {
		src.next.prev = src.prev
	} else {
		s.tail = src.prev
	}
	src.prev, src.next = nil, nil
}
