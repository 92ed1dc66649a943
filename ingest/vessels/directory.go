package vessels

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

// Register lists devices; *fleet.Register implements it. The tracker asks
// for every AIS unit, as the system (an actor with no unit, which sees the
// whole register), every DirectoryTTL: AIS units number in the hundreds,
// and one list is cheaper than a look-up per MMSI heard.
type Register interface {
	Devices(ctx context.Context, actor fleet.User, f fleet.DeviceFilter) ([]fleet.Device, string, error)
}

// system is the actor of the tracker's register reads.
var system = fleet.User{ID: "system", Username: "system", Role: fleet.RoleAdmin}

// maxUnitPages bounds one refresh (500 units a page).
const maxUnitPages = 200

// units is one snapshot of the register's AIS units in service. It is
// never changed once published.
type units struct {
	byMMSI  map[uint32]string // the mmsi a unit is registered with → its device id
	ids     map[string]bool   // ids of AIS units
	expires time.Time
}

var noUnits = &units{}

// directory caches the register's AIS units. The caller that finds the
// snapshot stale refreshes it; the others go on with the stale one
// meanwhile (only the very first load makes them wait).
type directory struct {
	reg                 Register
	ttl, retry, timeout time.Duration
	now                 func() time.Time

	cur        atomic.Pointer[units]
	refreshing sync.Mutex

	failures atomic.Uint64 // refreshes that failed, for the metrics
	onError  func(error)   // logs a failed refresh
}

func newDirectory(reg Register, cfg Config, now func() time.Time) *directory {
	return &directory{reg: reg, ttl: cfg.DirectoryTTL, retry: cfg.DirectoryRetry, timeout: cfg.LookupTimeout, now: now}
}

// get returns the current snapshot, refreshing it when it has expired.
func (d *directory) get(ctx context.Context) *units {
	if d.reg == nil {
		return noUnits
	}
	u := d.cur.Load()
	if u != nil && d.now().Before(u.expires) {
		return u
	}
	if u == nil {
		d.refreshing.Lock()
	} else if !d.refreshing.TryLock() {
		return u
	}
	defer d.refreshing.Unlock()
	if cur := d.cur.Load(); cur != u { // refreshed while we waited
		return cur
	}
	fresh, err := d.load(ctx)
	if err != nil {
		d.failures.Add(1)
		if d.onError != nil {
			d.onError(err)
		}
		// Keep what we knew, and ask again soon.
		stale := noUnits
		if u != nil {
			stale = u
		}
		fresh = &units{byMMSI: stale.byMMSI, ids: stale.ids, expires: d.now().Add(d.retry)}
	}
	d.cur.Store(fresh)
	return fresh
}

// load reads every AIS unit that is not retired.
func (d *directory) load(ctx context.Context) (*units, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	u := &units{byMMSI: map[uint32]string{}, ids: map[string]bool{}}
	after := ""
	for range maxUnitPages {
		page, next, err := d.reg.Devices(ctx, system, fleet.DeviceFilter{Kind: fleet.KindAISUnit,
			Page: fleet.Page{Limit: 500, After: after}})
		if err != nil {
			return nil, fmt.Errorf("vessels: list AIS units: %w", err)
		}
		for _, dev := range page {
			if dev.Kind != fleet.KindAISUnit || dev.Status == fleet.StatusRetired {
				continue // a retired unit's boat may have been sold
			}
			u.ids[dev.ID] = true
			if mmsi, ok := parseMMSI(dev.MMSI); ok {
				u.byMMSI[mmsi] = dev.ID
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	u.expires = d.now().Add(d.ttl)
	return u, nil
}

// parseMMSI reads a 9-digit MMSI.
func parseMMSI(s string) (uint32, bool) {
	if len(s) != 9 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// ParseMMSI reads an MMSI as the API and the register write it: exactly 9
// digits.
func ParseMMSI(s string) (uint32, bool) { return parseMMSI(s) }

// FormatMMSI writes an MMSI as 9 digits, leading zeros kept (coast
// stations' MMSIs start with 00). The tracker keeps no MMSI above
// 999999999, which the 30-bit field could carry but no station has.
func FormatMMSI(mmsi uint32) string {
	if mmsi > maxMMSI {
		return strconv.FormatUint(uint64(mmsi), 10)
	}
	var b [9]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + mmsi%10)
		mmsi /= 10
	}
	return string(b[:])
}
