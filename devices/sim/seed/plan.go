// Package seed builds a realistic demo province for the fleet service and
// puts it in through the service's public HTTP API, as an equipment
// manager's scripts would: units, officers with a realistic mix of
// eligible and ineligible states, recorders, vehicle terminals and AIS
// units in every lifecycle status, and demo users per role.
//
// The plan is a pure function of the options (seed, sizes, today), so the
// same seed gives the same province; Seeder applies it. The device ids and
// one-time MQTT secrets go to a state file for the telemetry simulator.
//
// It talks to the service only through fleetapi (HTTP); it must not import
// the service's web or store packages.
package seed

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/lawfleet/fleet/fleet"
)

// Profile is a demo officer's situation; it decides the officer's post,
// duty status and certificate, and so eligibility.
type Profile string

const (
	ProfileEligible      Profile = "eligible"
	ProfileCertExpired   Profile = "certificate_expired"
	ProfileReviewLapsed  Profile = "annual_review_lapsed"
	ProfileSuspended     Profile = "certificate_suspended"
	ProfileRevoked       Profile = "certificate_revoked"
	ProfileTransferred   Profile = "transferred_out"
	ProfileRetired       Profile = "retired"
	ProfileLongLeave     Profile = "long_leave"
	ProfileNotFrontline  Profile = "not_frontline"
	ProfileNoCertificate Profile = "no_certificate"
)

// profileMix is the share (per mille) of each ineligible profile; the rest
// are eligible. Roughly what a provincial roster looks like mid-plan.
var profileMix = []struct {
	profile  Profile
	permille int
}{
	{ProfileCertExpired, 50},
	{ProfileReviewLapsed, 50},
	{ProfileSuspended, 15},
	{ProfileRevoked, 10},
	{ProfileTransferred, 30},
	{ProfileRetired, 20},
	{ProfileLongLeave, 30},
	{ProfileNotFrontline, 60},
	{ProfileNoCertificate, 20},
}

// OnDuty reports whether an officer of profile p is at their post, and so
// may be handed a recorder.
func (p Profile) OnDuty() bool {
	return p != ProfileTransferred && p != ProfileRetired && p != ProfileLongLeave
}

// certYears is the validity of an enforcement certificate.
const certYears = 5

// Options size and date the demo province.
type Options struct {
	Seed      uint64     // same seed, same province
	Officers  int        // how many officers
	Recorders int        // how many recorders; 0 sizes them from the officers
	Today     fleet.Date // the day the roster is as of
	RTSPAddr  string     // host:port the vehicle terminals' stream URLs point at
}

// Officer is one planned officer; UnitCode names its unit.
type Officer struct {
	UnitCode    string
	Profile     Profile
	Name        string
	BadgeNo     string
	Frontline   bool
	DutyStatus  fleet.DutyStatus
	Certificate fleet.Certificate
	EffectiveOn fleet.Date
}

// State is the officer's state as the register will hold it.
func (o Officer) State(unitID string) fleet.OfficerState {
	return fleet.OfficerState{UnitID: unitID, Frontline: o.Frontline, DutyStatus: o.DutyStatus, Certificate: o.Certificate}
}

// Input is the create body of the officer in unit unitID.
func (o Officer) Input(unitID string) fleet.OfficerInput {
	frontline := o.Frontline
	return fleet.OfficerInput{UnitID: unitID, Name: o.Name, BadgeNo: o.BadgeNo, Frontline: &frontline,
		DutyStatus: o.DutyStatus, Certificate: o.Certificate, EffectiveOn: o.EffectiveOn}
}

// Device is one planned device and the status it ends in. Holder is the
// badge of the officer it is checked out to (assigned), or was checked out
// to before it went to repair or was lost.
type Device struct {
	Kind     fleet.DeviceKind
	Serial   string
	Model    string
	Firmware string
	UnitCode string
	RTSPURL  string
	MMSI     string
	Status   fleet.DeviceStatus
	Holder   string
	Reason   string // why it left service
}

// User is one demo sign-in; Officer is the badge of the officer an
// officer-role user is.
type User struct {
	Username string
	Name     string
	Role     fleet.Role
	UnitCode string
	Officer  string
}

// Plan is the whole demo province, in creation order.
type Plan struct {
	Options  Options
	Units    []UnitPlan
	Officers []Officer
	Devices  []Device
	Users    []User
}

// Generate plans the demo province. It is deterministic: the same options
// give the same plan.
func Generate(o Options) Plan {
	rng := rand.New(rand.NewPCG(o.Seed, 0x64657673696d)) // "devsim"
	p := Plan{Options: o}
	p.Units = planUnits(rng)
	p.Officers = planOfficers(rng, p.Units, o.Officers, o.Today)
	p.Devices = planDevices(rng, p.Units, p.Officers, o)
	p.Users = planUsers(p.Units, p.Officers, p.Devices)
	return p
}

// profileCounts splits n officers into profiles by profileMix. Every
// ineligible profile gets at least one officer once n is large enough to
// keep a majority eligible, so that even a small demo shows each case.
func profileCounts(n int) map[Profile]int {
	counts := map[Profile]int{}
	rest := n
	for _, m := range profileMix {
		k := int(math.Round(float64(n*m.permille) / 1000))
		if k == 0 && n >= 3*len(profileMix) {
			k = 1
		}
		k = min(k, rest)
		counts[m.profile] = k
		rest -= k
	}
	counts[ProfileEligible] = rest
	return counts
}

func planOfficers(rng *rand.Rand, units []UnitPlan, n int, today fleet.Date) []Officer {
	counts := profileCounts(n)
	profiles := make([]Profile, 0, n)
	profiles = append(profiles, slices.Repeat([]Profile{ProfileEligible}, counts[ProfileEligible])...)
	for _, m := range profileMix {
		profiles = append(profiles, slices.Repeat([]Profile{m.profile}, counts[m.profile])...)
	}
	rng.Shuffle(len(profiles), func(i, j int) { profiles[i], profiles[j] = profiles[j], profiles[i] })

	var stations, counties, hq []UnitPlan
	for _, u := range units {
		switch u.Level {
		case fleet.LevelStation:
			stations = append(stations, u)
		case fleet.LevelCounty:
			counties = append(counties, u)
		default:
			hq = append(hq, u)
		}
	}
	names := NewNameGen(rng)
	badgeSeq := map[string]int{}
	officers := make([]Officer, 0, n)
	for i, prof := range profiles {
		// Most officers serve at stations, some at the county brigade;
		// detachment and bureau staff are mostly desk posts.
		var u UnitPlan
		switch r := rng.IntN(100); {
		case prof == ProfileNotFrontline && r < 50:
			u = hq[rng.IntN(len(hq))]
		case r < 80:
			u = stations[rng.IntN(len(stations))]
		case r < 97:
			u = counties[rng.IntN(len(counties))]
		default:
			u = hq[rng.IntN(len(hq))]
		}
		prefix := u.Code[:6] // the division code; stations share their county's
		badgeSeq[prefix]++
		o := Officer{
			UnitCode:    u.Code,
			Profile:     prof,
			Name:        names.Next(),
			BadgeNo:     BadgeNo(prefix, badgeSeq[prefix]),
			Frontline:   prof != ProfileNotFrontline,
			DutyStatus:  fleet.OnDuty,
			EffectiveOn: today.AddDays(-(30 + rng.IntN(900))),
		}
		switch prof {
		case ProfileTransferred:
			o.DutyStatus = fleet.TransferredOut
		case ProfileRetired:
			o.DutyStatus = fleet.Retired
		case ProfileLongLeave:
			o.DutyStatus = fleet.LongLeave
		}
		if prof != ProfileNoCertificate && !(prof == ProfileNotFrontline && rng.IntN(2) == 0) {
			o.Certificate = Certificate(rng, prof, i+1, today)
		}
		officers = append(officers, o)
	}
	return officers
}

// BadgeNo is an officer's badge number: the division code of the unit and
// a sequence number within it, e.g. 4201020007.
func BadgeNo(division string, seq int) string { return fmt.Sprintf("%s%04d", division, seq) }

// CertificateNo is an enforcement certificate number: the province prefix,
// the year of issue and a province-wide sequence, e.g. 42202100123.
func CertificateNo(issued fleet.Date, seq int) string {
	return fmt.Sprintf("%s%04d%05d", ProvinceCode[:2], issued.Year(), seq)
}

// expiry is the last day of a certificate issued on d.
func expiry(d fleet.Date) fleet.Date {
	return fleet.DateOf(d.Start().AddDate(certYears, 0, -1))
}

// Certificate returns a certificate for an officer of profile p, the seq-th
// issued in the province, as it stands on today: issued over the past
// years, valid for five, annual review current unless the profile says
// otherwise.
func Certificate(rng *rand.Rand, p Profile, seq int, today fleet.Date) fleet.Certificate {
	var c fleet.Certificate
	c.Status = fleet.CertValid
	switch p {
	case ProfileCertExpired:
		// Issued five to seven years ago and not renewed.
		c.IssuedOn = today.AddDays(-(certYears*365 + 10 + rng.IntN(700)))
		c.ExpiresOn = expiry(c.IssuedOn)
		c.AnnualReviewUntil = c.ExpiresOn.AddDays(-rng.IntN(200))
	case ProfileReviewLapsed:
		c.IssuedOn = today.AddDays(-(400 + rng.IntN(1300)))
		c.ExpiresOn = expiry(c.IssuedOn)
		c.AnnualReviewUntil = today.AddDays(-(5 + rng.IntN(200)))
	default:
		// Still valid: issued between two months and 4.8 years ago.
		c.IssuedOn = today.AddDays(-(60 + rng.IntN(certYears*365-130)))
		c.ExpiresOn = expiry(c.IssuedOn)
		c.AnnualReviewUntil = today.AddDays(20 + rng.IntN(340))
		if c.AnnualReviewUntil.After(c.ExpiresOn) {
			c.AnnualReviewUntil = c.ExpiresOn
		}
	}
	switch p {
	case ProfileSuspended:
		c.Status = fleet.CertSuspended
	case ProfileRevoked, ProfileTransferred:
		// The register revokes a transferred officer's certificate anyway.
		c.Status = fleet.CertRevoked
	}
	c.Number = CertificateNo(c.IssuedOn, seq)
	return c
}

// Recorder shares of the eligible headcount, per mille.
const (
	assignedPermille = 870 // equipped: the province is at ~87% mid-plan
	sparePermille    = 60  // in stock at brigades and stations
	repairPermille   = 30
	lostPermille     = 10
	retiredPermille  = 20
)

// RecorderMix says how many recorders end in each situation.
type RecorderMix struct {
	Assigned           int // checked out to eligible officers
	AssignedIneligible int // with on-duty officers who are not eligible: a desk post, a lapsed certificate
	InStock            int
	InRepair           int
	Lost               int
	Retired            int
}

func (m RecorderMix) Total() int {
	return m.Assigned + m.AssignedIneligible + m.InStock + m.InRepair + m.Lost + m.Retired
}

// recorderMix sizes the recorders from the eligible headcount, then fits
// the mix to total (0: no fitting). Extra recorders are spares; when there
// are fewer, the largest groups shrink first, so every status keeps one
// recorder as long as there are enough to go round. The assigned groups
// never exceed the officers who can take them.
func recorderMix(eligible, onDutyIneligible, total int) RecorderMix {
	share := func(permille int) int {
		k := int(math.Round(float64(eligible*permille) / 1000))
		if k == 0 && eligible > 0 {
			k = 1
		}
		return k
	}
	m := RecorderMix{
		Assigned:           min(eligible, int(math.Round(float64(eligible*assignedPermille)/1000))),
		AssignedIneligible: (onDutyIneligible + 4) / 5,
		InStock:            share(sparePermille),
		InRepair:           share(repairPermille),
		Lost:               share(lostPermille),
		Retired:            share(retiredPermille),
	}
	// Repaired and lost recorders were last with eligible officers who are
	// now without one; there must be enough of those.
	for m.Assigned+m.InRepair+m.Lost > eligible && m.Assigned > 0 {
		m.Assigned--
	}
	if total <= 0 {
		return m
	}
	if d := total - m.Total(); d > 0 {
		m.InStock += d
	}
	for m.Total() > total {
		groups := []*int{&m.Assigned, &m.InStock, &m.AssignedIneligible, &m.InRepair, &m.Retired, &m.Lost}
		biggest := groups[0]
		for _, g := range groups[1:] {
			if *g > *biggest {
				biggest = g
			}
		}
		*biggest--
	}
	return m
}

var (
	recorderModels = []struct{ model, firmware string }{
		{"DSJ-H8 4G", "V2.3.1"}, {"DSJ-H8 4G", "V2.3.1"}, {"DSJ-H8 4G", "V2.2.8"},
		{"DSJ-V7", "V1.9.4"}, {"DSJ-K6 4G", "V3.0.2"},
	}
	terminalModel = struct{ model, firmware string }{"MDVR-C6 4G", "V1.8.4"}
	aisModel      = struct{ model, firmware string }{"AIS-B 600", "3.1.0"}
)

func planDevices(rng *rand.Rand, units []UnitPlan, officers []Officer, o Options) []Device {
	var eligible, ineligibleOnDuty []Officer
	today := o.Today
	for _, of := range officers {
		if of.State("").Eligible(today) {
			eligible = append(eligible, of)
		} else if of.Profile.OnDuty() {
			ineligibleOnDuty = append(ineligibleOnDuty, of)
		}
	}
	mix := recorderMix(len(eligible), len(ineligibleOnDuty), o.Recorders)
	rng.Shuffle(len(eligible), func(i, j int) { eligible[i], eligible[j] = eligible[j], eligible[i] })
	rng.Shuffle(len(ineligibleOnDuty), func(i, j int) {
		ineligibleOnDuty[i], ineligibleOnDuty[j] = ineligibleOnDuty[j], ineligibleOnDuty[i]
	})

	var stock []UnitPlan // where spares and retired recorders are kept
	for _, u := range units {
		if u.Level == fleet.LevelCounty || u.Level == fleet.LevelStation {
			stock = append(stock, u)
		}
	}
	year := today.Year() % 100
	var devices []Device
	recorder := func(unit string, status fleet.DeviceStatus, holder, reason string) {
		m := recorderModels[rng.IntN(len(recorderModels))]
		devices = append(devices, Device{Kind: fleet.KindRecorder,
			Serial: fmt.Sprintf("JLY%02d%06d", year-rng.IntN(3), len(devices)+1),
			Model:  m.model, Firmware: m.firmware, UnitCode: unit, Status: status, Holder: holder, Reason: reason})
	}
	next := 0 // eligible officers handed out so far
	for range mix.Assigned {
		of := eligible[next]
		next++
		recorder(of.UnitCode, fleet.StatusAssigned, of.BadgeNo, "")
	}
	for i := range mix.AssignedIneligible {
		of := ineligibleOnDuty[i]
		recorder(of.UnitCode, fleet.StatusAssigned, of.BadgeNo, "")
	}
	for range mix.InRepair {
		of := eligible[next]
		next++
		recorder(of.UnitCode, fleet.StatusInRepair, of.BadgeNo, "屏幕损坏，送厂维修")
	}
	for range mix.Lost {
		of := eligible[next]
		next++
		recorder(of.UnitCode, fleet.StatusLost, of.BadgeNo, "执勤途中遗失，已报备")
	}
	for range mix.Retired {
		recorder(stock[rng.IntN(len(stock))].Code, fleet.StatusRetired, "", "电池老化，达到报废年限")
	}
	for range mix.InStock {
		recorder(stock[rng.IntN(len(stock))].Code, fleet.StatusInStock, "", "")
	}

	// Vehicle terminals: one per county brigade and per road station, two
	// at an overload checkpoint; AIS units on a maritime station's boats.
	terminals, ais := 0, 0
	mmsis := map[string]bool{}
	for _, u := range units {
		var nVT, nAIS int
		switch {
		case u.Level == fleet.LevelCounty:
			nVT = 1
		case u.Maritime:
			nAIS = 1 + rng.IntN(2)
		case u.Level == fleet.LevelStation:
			nVT = 1 + rng.IntN(2)
		}
		for range nVT {
			terminals++
			serial := fmt.Sprintf("CZ%02d%06d", year-rng.IntN(3), terminals)
			d := Device{Kind: fleet.KindVehicleTerminal, Serial: serial, Model: terminalModel.model,
				Firmware: terminalModel.firmware, UnitCode: u.Code, Status: fleet.StatusInStock,
				RTSPURL: "rtsp://" + o.RTSPAddr + "/" + serial}
			if terminals%7 == 3 {
				d.Status, d.Reason = fleet.StatusInRepair, "视频模块故障"
			}
			devices = append(devices, d)
		}
		for range nAIS {
			ais++
			d := Device{Kind: fleet.KindAISUnit, Serial: fmt.Sprintf("AIS%02d%05d", year-rng.IntN(5), ais),
				Model: aisModel.model, Firmware: aisModel.firmware, UnitCode: u.Code, Status: fleet.StatusInStock,
				MMSI: newMMSI(rng, mmsis)}
			devices = append(devices, d)
		}
	}
	return devices
}

// newMMSI returns an unused ship station MMSI with China's MID 413.
func newMMSI(rng *rand.Rand, used map[string]bool) string {
	for {
		m := fmt.Sprintf("413%06d", 100000+rng.IntN(900000))
		if !used[m] {
			used[m] = true
			return m
		}
	}
}

// planUsers plans demo sign-ins: an equipment manager at a city and at a
// county, a commander at each of two cities, an auditor at the province,
// and an officer who holds a recorder.
func planUsers(units []UnitPlan, officers []Officer, devices []Device) []User {
	firstCounty := ""
	for _, u := range units {
		if u.Level == fleet.LevelCounty && u.ParentCode == cities[0].code {
			firstCounty = u.Code
			break
		}
	}
	users := []User{
		{Username: "hb_auditor", Name: "省局法制审核", Role: fleet.RoleAuditor, UnitCode: ProvinceCode},
		{Username: "wh_manager", Name: "武汉支队装备管理员", Role: fleet.RoleEquipmentManager, UnitCode: cities[0].code},
		{Username: "wh_county_manager", Name: "大队装备管理员", Role: fleet.RoleEquipmentManager, UnitCode: firstCounty},
		{Username: "wh_command", Name: "武汉指挥中心", Role: fleet.RoleCommander, UnitCode: cities[0].code},
		{Username: "yc_command", Name: "宜昌指挥中心", Role: fleet.RoleCommander, UnitCode: cities[1].code},
	}
	byBadge := map[string]Officer{}
	for _, o := range officers {
		byBadge[o.BadgeNo] = o
	}
	for _, d := range devices {
		if d.Status == fleet.StatusAssigned {
			if o := byBadge[d.Holder]; o.Profile == ProfileEligible {
				users = append(users, User{Username: "demo_officer", Name: o.Name, Role: fleet.RoleOfficer,
					UnitCode: o.UnitCode, Officer: o.BadgeNo})
				break
			}
		}
	}
	return users
}
