package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// CustodyEntry is one link of the chain of custody. The log is one chain
// over all items, so that removing every entry of an item breaks it too:
// EntryHash = SHA-256(PrevHash bytes || canonical bytes of the entry),
// and the first entry's PrevHash is GenesisHash. Seq is the store's order.
type CustodyEntry struct {
	Seq       int64         `json:"seq"`
	ItemID    string        `json:"item_id"`
	At        time.Time     `json:"at"`
	Action    CustodyAction `json:"action"`
	ActorID   string        `json:"actor_id"`
	Actor     string        `json:"actor"`
	Reason    string        `json:"reason,omitempty"`
	Detail    string        `json:"detail,omitempty"` // e.g. the hash checked, the byte range served
	PrevHash  string        `json:"prev_hash"`
	EntryHash string        `json:"entry_hash"`
}

// GenesisHash is the PrevHash of the first entry.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// canonical is the entry's content in a fixed, unambiguous form: every
// field length-prefixed, times in Unix milliseconds (what the store
// keeps), so that the same entry read back hashes the same on SQLite and
// PostgreSQL.
func (e CustodyEntry) canonical() []byte {
	var b []byte
	field := func(s string) {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
		b = append(b, ';')
	}
	field("custody.v1")
	field(e.ItemID)
	field(strconv.FormatInt(e.At.UnixMilli(), 10))
	field(string(e.Action))
	field(e.ActorID)
	field(e.Actor)
	field(e.Reason)
	field(e.Detail)
	return b
}

// ComputeHash returns the hash e must carry after prev.
func (e CustodyEntry) ComputeHash(prev string) string {
	p, err := hex.DecodeString(prev)
	if err != nil {
		p = []byte(prev) // a corrupt prev still yields a (wrong) hash
	}
	h := sha256.New()
	h.Write(p)
	h.Write(e.canonical())
	return hex.EncodeToString(h.Sum(nil))
}

// seal links e after prev: it truncates At to the store's millisecond
// and sets PrevHash and EntryHash.
func (e *CustodyEntry) seal(prev string) {
	e.At = time.UnixMilli(e.At.UnixMilli()).UTC()
	e.PrevHash = prev
	e.EntryHash = e.ComputeHash(prev)
}

// ChainBreak is one place where the custody log does not hold together.
type ChainBreak struct {
	Seq    int64  `json:"seq"`
	ItemID string `json:"item_id"`
	Reason string `json:"reason"`
}

// chainChecker walks the log in Seq order.
type chainChecker struct {
	prev   string
	breaks []ChainBreak
	n      int
}

func newChainChecker() *chainChecker { return &chainChecker{prev: GenesisHash} }

func (c *chainChecker) check(e CustodyEntry) {
	c.n++
	if e.PrevHash != c.prev {
		c.breaks = append(c.breaks, ChainBreak{Seq: e.Seq, ItemID: e.ItemID,
			Reason: "prev_hash does not match the entry before: an entry was removed, inserted or altered"})
	}
	if got := e.ComputeHash(e.PrevHash); got != e.EntryHash {
		c.breaks = append(c.breaks, ChainBreak{Seq: e.Seq, ItemID: e.ItemID,
			Reason: "entry_hash does not match the entry's content: the entry was altered"})
	}
	// Go on from what the entry claims, so that one altered entry is
	// reported once rather than breaking everything after it.
	c.prev = e.EntryHash
}
