package web

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

// A player makes several requests a second for one stream (LL-HLS
// playlist reloads and parts), each checked by AuthorizeVideo and named by
// VideoViewer; each check is a token hash, a session and user lookup and
// a device lookup in the register, which under 50 HLS viewers was over a
// quarter of the service's CPU. videoAuthCache keeps each decision for
// videoAuthTTL, so the requests of one viewing session reach the store
// once per TTL.
//
// The price: a decision may be up to videoAuthTTL old. A session ended
// (logout, expiry, a disabled account) or a device moved out of the
// viewer's unit stops the video within videoAuthTTL, not at once; a
// refusal likewise lasts at most videoAuthTTL.
const (
	videoAuthTTL = 5 * time.Second
	videoAuthMax = 10_000 // entries; at 50 bytes or so each, well under a megabyte
)

// videoAuthKey is the SHA-256 of the token and the device id: the cache
// holds no token. An empty device id keys VideoViewer's lookup.
type videoAuthKey [sha256.Size]byte

func newVideoAuthKey(token, deviceID string) videoAuthKey {
	h := sha256.New()
	h.Write([]byte(token))
	h.Write([]byte{0}) // tokens hold no NUL: token and device id cannot run together
	h.Write([]byte(deviceID))
	var k videoAuthKey
	h.Sum(k[:0])
	return k
}

type videoAuthEntry struct {
	userID  string
	err     error // the refusal, or nil
	expires time.Time
}

// videoAuthCache is bounded: when full, expired entries go first, then
// arbitrary ones, so that a flood of made-up tokens costs memory only up
// to videoAuthMax. The zero value is ready to use.
type videoAuthCache struct {
	mu      sync.Mutex
	now     func() time.Time // nil: time.Now; tests set a clock
	entries map[videoAuthKey]videoAuthEntry
}

func (c *videoAuthCache) setClock(now func() time.Time) {
	c.mu.Lock()
	c.now = now
	c.mu.Unlock()
}

func (c *videoAuthCache) clockLocked() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

func (c *videoAuthCache) get(k videoAuthKey) (videoAuthEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clockLocked()
	e, ok := c.entries[k]
	if !ok {
		return videoAuthEntry{}, false
	}
	if !now.Before(e.expires) {
		delete(c.entries, k)
		return videoAuthEntry{}, false
	}
	return e, true
}

// put keeps a decision: a grant, or a refusal by the register's rules.
// Failures of the store itself (unavailable, internal, a request
// cancelled) are no decision and are not kept.
func (c *videoAuthCache) put(k videoAuthKey, userID string, err error) {
	switch fleet.ErrorCode(err) {
	case "", fleet.EUNAUTHORIZED, fleet.EFORBIDDEN, fleet.ENOTFOUND:
	default:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clockLocked()
	if c.entries == nil {
		c.entries = make(map[videoAuthKey]videoAuthEntry)
	}
	if _, ok := c.entries[k]; !ok && len(c.entries) >= videoAuthMax {
		c.evictLocked(now)
	}
	c.entries[k] = videoAuthEntry{userID: userID, err: err, expires: now.Add(videoAuthTTL)}
}

// evictLocked makes room: every expired entry, and if that is not an
// eighth of the cache, arbitrary others (map order) up to that eighth, so
// that a full cache is swept once per videoAuthMax/8 new entries rather
// than on every one.
func (c *videoAuthCache) evictLocked(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) <= videoAuthMax-videoAuthMax/8 {
			break
		}
		delete(c.entries, k)
	}
}
