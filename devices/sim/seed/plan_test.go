package seed

import (
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

var (
	today       = fleet.NewDate(2026, time.March, 15)
	badgeRe     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,31}$`) // fleet's badge_no and certificate rule
	unitCodeRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$`)
	serialRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	mmsiChinaRe = regexp.MustCompile(`^41[234][0-9]{6}$`)
)

func TestProfileCounts(t *testing.T) {
	tests := []struct {
		n            int
		everyProfile bool // each ineligible profile has someone
	}{
		{1, false}, {5, false}, {26, false}, {27, true}, {40, true}, {300, true}, {10_000, true},
	}
	for _, tt := range tests {
		c := profileCounts(tt.n)
		sum := 0
		for _, k := range c {
			sum += k
		}
		if sum != tt.n {
			t.Errorf("n=%d: counts add up to %d", tt.n, sum)
		}
		if c[ProfileEligible]*2 < tt.n {
			t.Errorf("n=%d: only %d eligible, want a majority", tt.n, c[ProfileEligible])
		}
		if tt.everyProfile {
			for _, m := range profileMix {
				if c[m.profile] == 0 {
					t.Errorf("n=%d: nobody is %s", tt.n, m.profile)
				}
			}
		}
	}
}

// TestCertificate checks that each profile's certificate, with the rest of
// the officer's state, gives the ineligibility reason the profile stands
// for, on many draws.
func TestCertificate(t *testing.T) {
	tests := []struct {
		profile Profile
		duty    fleet.DutyStatus
		reason  string
	}{
		{ProfileEligible, fleet.OnDuty, ""},
		{ProfileCertExpired, fleet.OnDuty, fleet.ReasonCertExpired},
		{ProfileReviewLapsed, fleet.OnDuty, fleet.ReasonReviewLapsed},
		{ProfileSuspended, fleet.OnDuty, fleet.ReasonCertSuspended},
		{ProfileRevoked, fleet.OnDuty, fleet.ReasonCertRevoked},
		{ProfileTransferred, fleet.TransferredOut, fleet.ReasonTransferredOut},
		{ProfileRetired, fleet.Retired, fleet.ReasonRetired},
		{ProfileLongLeave, fleet.LongLeave, fleet.ReasonLongLeave},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tt := range tests {
		t.Run(string(tt.profile), func(t *testing.T) {
			for i := range 500 {
				c := Certificate(rng, tt.profile, i+1, today)
				s := fleet.OfficerState{Frontline: true, DutyStatus: tt.duty, Certificate: c}
				if got := s.Ineligible(today); got != tt.reason {
					t.Fatalf("certificate %+v: reason %q, want %q", c, got, tt.reason)
				}
				if !c.ExpiresOn.After(c.IssuedOn) || !badgeRe.MatchString(c.Number) {
					t.Fatalf("certificate %+v would be refused", c)
				}
				if anniversary := fleet.DateOf(c.IssuedOn.Start().AddDate(certYears, 0, 0)); c.ExpiresOn.AddDays(1) != anniversary {
					t.Fatalf("certificate %+v is not valid for %d years", c, certYears)
				}
				if c.IssuedOn.After(today) || c.IssuedOn.Before(today.AddDays(-8*365)) {
					t.Fatalf("certificate %+v issued outside the past 8 years", c)
				}
			}
		})
	}
}

func TestNumbers(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{BadgeNo("420102", 7), "4201020007"},
		{BadgeNo("421087", 1234), "4210871234"},
		{CertificateNo(fleet.NewDate(2021, time.May, 3), 123), "42202100123"},
		{CertificateNo(fleet.NewDate(2025, time.January, 1), 99999), "42202599999"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
		if !badgeRe.MatchString(tt.got) {
			t.Errorf("%s would be refused as a badge or certificate number", tt.got)
		}
	}
}

func TestRecorderMix(t *testing.T) {
	tests := []struct {
		name                    string
		eligible, ineligible, n int
		want                    RecorderMix
	}{
		{"demo", 213, 40, 0, RecorderMix{Assigned: 185, AssignedIneligible: 8, InStock: 13, InRepair: 6, Lost: 2, Retired: 4}},
		{"small", 20, 6, 0, RecorderMix{Assigned: 17, AssignedIneligible: 2, InStock: 1, InRepair: 1, Lost: 1, Retired: 1}},
		{"more than needed", 20, 6, 100, RecorderMix{Assigned: 17, AssignedIneligible: 2, InStock: 78, InRepair: 1, Lost: 1, Retired: 1}},
		{"fewer than needed", 20, 6, 12, RecorderMix{Assigned: 6, AssignedIneligible: 2, InStock: 1, InRepair: 1, Lost: 1, Retired: 1}},
		{"all eligible would be equipped", 3, 0, 0, RecorderMix{Assigned: 1, InStock: 1, InRepair: 1, Lost: 1, Retired: 1}},
		{"nobody eligible", 0, 5, 0, RecorderMix{AssignedIneligible: 1}},
		{"nobody at all", 0, 0, 4, RecorderMix{InStock: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := recorderMix(tt.eligible, tt.ineligible, tt.n)
			if got != tt.want {
				t.Errorf("recorderMix(%d, %d, %d) = %+v, want %+v", tt.eligible, tt.ineligible, tt.n, got, tt.want)
			}
			if tt.n > 0 && got.Total() != tt.n {
				t.Errorf("total %d, want %d", got.Total(), tt.n)
			}
			if got.Assigned+got.InRepair+got.Lost > tt.eligible {
				t.Errorf("%+v needs more eligible holders than %d", got, tt.eligible)
			}
		})
	}
}

func TestGenerateDeterministic(t *testing.T) {
	o := Options{Seed: 1, Officers: 300, Today: today, RTSPAddr: "127.0.0.1:8554"}
	a, b := Generate(o), Generate(o)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same options gave different plans")
	}
	o.Seed = 2
	if c := Generate(o); reflect.DeepEqual(a.Officers, c.Officers) {
		t.Fatal("another seed gave the same officers")
	}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name      string
		opt       Options
		recorders int // 0: not checked
	}{
		{"demo", Options{Seed: 1, Officers: 300}, 0},
		{"other seed", Options{Seed: 99, Officers: 300}, 0},
		{"small", Options{Seed: 5, Officers: 40}, 0},
		{"tiny", Options{Seed: 5, Officers: 3}, 0},
		{"many recorders", Options{Seed: 1, Officers: 100, Recorders: 1000}, 1000},
		{"few recorders", Options{Seed: 1, Officers: 100, Recorders: 30}, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opt.Today, tt.opt.RTSPAddr = today, "127.0.0.1:8554"
			p := Generate(tt.opt)
			units := checkUnits(t, p.Units)
			if len(p.Officers) != tt.opt.Officers {
				t.Fatalf("%d officers, want %d", len(p.Officers), tt.opt.Officers)
			}
			officers := checkOfficers(t, p.Officers, units)
			checkDevices(t, p.Devices, units, officers, tt.recorders)
			for _, u := range p.Users {
				if _, ok := units[u.UnitCode]; !ok || !u.Role.Valid() {
					t.Errorf("user %+v: unknown unit or role", u)
				}
				if u.Role == fleet.RoleOfficer && officers[u.Officer].Profile != ProfileEligible {
					t.Errorf("demo officer %s is not an eligible officer", u.Officer)
				}
			}
		})
	}
}

func checkUnits(t *testing.T, plan []UnitPlan) map[string]UnitPlan {
	t.Helper()
	units := map[string]UnitPlan{}
	perLevel := map[fleet.UnitLevel]int{}
	children := map[string]int{}
	for _, u := range plan {
		if _, dup := units[u.Code]; dup {
			t.Errorf("unit code %s twice", u.Code)
		}
		if !unitCodeRe.MatchString(u.Code) || u.Name == "" || len([]rune(u.Name)) > 64 {
			t.Errorf("unit %+v would be refused", u)
		}
		if u.Level == fleet.LevelProvince {
			if u.ParentCode != "" {
				t.Errorf("province %s has a parent", u.Code)
			}
		} else {
			parent, ok := units[u.ParentCode]
			if !ok {
				t.Errorf("unit %s comes before its parent %s", u.Code, u.ParentCode)
			} else if parent.Level.Depth() != u.Level.Depth()-1 {
				t.Errorf("%s %s under %s %s", u.Level, u.Code, parent.Level, parent.Code)
			}
			children[u.ParentCode]++
		}
		units[u.Code] = u
		perLevel[u.Level]++
	}
	if perLevel[fleet.LevelProvince] != 1 || perLevel[fleet.LevelCity] < 3 || perLevel[fleet.LevelCity] > 4 {
		t.Errorf("levels %v: want one province and 3–4 cities", perLevel)
	}
	for _, u := range plan {
		n := children[u.Code]
		switch u.Level {
		case fleet.LevelCity:
			if n < 2 || n > 3 {
				t.Errorf("city %s has %d counties, want 2–3", u.Code, n)
			}
		case fleet.LevelCounty:
			if n < 1 || n > 3 {
				t.Errorf("county %s has %d stations, want 1–3", u.Code, n)
			}
		}
	}
	return units
}

func checkOfficers(t *testing.T, plan []Officer, units map[string]UnitPlan) map[string]Officer {
	t.Helper()
	officers := map[string]Officer{}
	certs := map[string]bool{}
	for _, o := range plan {
		if _, dup := officers[o.BadgeNo]; dup {
			t.Errorf("badge %s twice", o.BadgeNo)
		}
		officers[o.BadgeNo] = o
		if _, ok := units[o.UnitCode]; !ok {
			t.Errorf("officer %s in unknown unit %s", o.BadgeNo, o.UnitCode)
		}
		if !badgeRe.MatchString(o.BadgeNo) || !strings.HasPrefix(o.BadgeNo, o.UnitCode[:6]) {
			t.Errorf("badge %s of an officer in %s", o.BadgeNo, o.UnitCode)
		}
		if n := o.Certificate.Number; n != "" {
			if certs[n] {
				t.Errorf("certificate %s twice", n)
			}
			certs[n] = true
		}
		if o.EffectiveOn.After(today) {
			t.Errorf("officer %s effective in the future", o.BadgeNo)
		}
		eligible := o.State("u").Eligible(today)
		if eligible != (o.Profile == ProfileEligible) {
			t.Errorf("officer %s of profile %s: eligible %v (%s)", o.BadgeNo, o.Profile, eligible, o.State("u").Ineligible(today))
		}
	}
	return officers
}

func checkDevices(t *testing.T, plan []Device, units map[string]UnitPlan, officers map[string]Officer, recorders int) {
	t.Helper()
	serials, mmsis, holders := map[string]bool{}, map[string]bool{}, map[string]bool{}
	statuses := map[fleet.DeviceStatus]int{}
	kinds := map[fleet.DeviceKind]int{}
	for _, d := range plan {
		kinds[d.Kind]++
		statuses[d.Status]++
		if serials[d.Serial] || !serialRe.MatchString(d.Serial) {
			t.Errorf("serial %s repeated or refused", d.Serial)
		}
		serials[d.Serial] = true
		if _, ok := units[d.UnitCode]; !ok {
			t.Errorf("device %s in unknown unit %s", d.Serial, d.UnitCode)
		}
		switch d.Kind {
		case fleet.KindAISUnit:
			if !mmsiChinaRe.MatchString(d.MMSI) || mmsis[d.MMSI] || !units[d.UnitCode].Maritime {
				t.Errorf("AIS unit %s: mmsi %s repeated or not Chinese, or not at a 海事所", d.Serial, d.MMSI)
			}
			mmsis[d.MMSI] = true
		case fleet.KindVehicleTerminal:
			if d.RTSPURL != "rtsp://127.0.0.1:8554/"+d.Serial {
				t.Errorf("terminal %s: rtsp_url %s", d.Serial, d.RTSPURL)
			}
		}
		if d.Kind != fleet.KindRecorder && d.Holder != "" {
			t.Errorf("%s %s has a holder", d.Kind, d.Serial)
		}
		if d.Holder == "" {
			if d.Status == fleet.StatusAssigned {
				t.Errorf("assigned %s has no holder", d.Serial)
			}
			continue
		}
		o, ok := officers[d.Holder]
		switch {
		case !ok:
			t.Errorf("%s held by unknown %s", d.Serial, d.Holder)
		case holders[d.Holder]:
			t.Errorf("officer %s holds two recorders", d.Holder)
		case !o.Profile.OnDuty():
			t.Errorf("officer %s is %s but holds %s", d.Holder, o.Profile, d.Serial)
		case o.UnitCode != d.UnitCode:
			t.Errorf("recorder %s in %s, its holder in %s", d.Serial, d.UnitCode, o.UnitCode)
		}
		holders[d.Holder] = true
	}
	if kinds[fleet.KindVehicleTerminal] == 0 || kinds[fleet.KindAISUnit] == 0 {
		t.Errorf("device kinds %v: want terminals and AIS units", kinds)
	}
	if recorders > 0 && kinds[fleet.KindRecorder] != recorders {
		t.Errorf("%d recorders, want %d", kinds[fleet.KindRecorder], recorders)
	}
	if len(officers) >= 27 {
		for _, s := range []fleet.DeviceStatus{fleet.StatusInStock, fleet.StatusAssigned, fleet.StatusInRepair, fleet.StatusLost, fleet.StatusRetired} {
			if statuses[s] == 0 {
				t.Errorf("no device is %s: %v", s, statuses)
			}
		}
	}
}
