package fleet

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The report day of most tests, and a day well before it on which the
// officers and recorders of a scenario already exist.
var (
	reportDay = d26(time.June, 15)
	longAgo   = NewDate(2025, 1, 1)
)

// oneStation is a province → city → county → station chain.
func oneStation(t *testing.T) *world {
	w := newWorld(t)
	w.unit("p", "", LevelProvince)
	w.unit("c", "p", LevelCity)
	w.unit("x", "c", LevelCounty)
	w.unit("s", "x", LevelStation)
	return w
}

type figures struct {
	eligible, equipped, active, spare int
}

func figuresOf(r CoverageReport) figures {
	return figures{r.Eligible, r.Equipped, r.Active, r.Spare}
}

func TestEligibilityRules(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*OfficerState)
		reason string // "" when eligible on reportDay
	}{
		{"eligible", func(*OfficerState) {}, ""},
		{"certificate expires on the day", func(s *OfficerState) { s.Certificate.ExpiresOn = reportDay }, ""},
		{"certificate expired", func(s *OfficerState) { s.Certificate.ExpiresOn = reportDay.AddDays(-1) }, ReasonCertExpired},
		{"certificate suspended", func(s *OfficerState) { s.Certificate.Status = CertSuspended }, ReasonCertSuspended},
		{"certificate revoked", func(s *OfficerState) { s.Certificate.Status = CertRevoked }, ReasonCertRevoked},
		{"certificate not yet issued", func(s *OfficerState) { s.Certificate.IssuedOn = reportDay.AddDays(1) }, ReasonNotYetIssued},
		{"no certificate", func(s *OfficerState) { s.Certificate = Certificate{} }, ReasonNoCertificate},
		{"annual review due on the day", func(s *OfficerState) { s.Certificate.AnnualReviewUntil = reportDay }, ""},
		{"annual review lapsed", func(s *OfficerState) { s.Certificate.AnnualReviewUntil = reportDay.AddDays(-1) }, ReasonReviewLapsed},
		{"no annual review on record", func(s *OfficerState) { s.Certificate.AnnualReviewUntil = Date{} }, ReasonReviewLapsed},
		{"transferred out", func(s *OfficerState) { s.DutyStatus = TransferredOut }, ReasonTransferredOut},
		{"retired", func(s *OfficerState) { s.DutyStatus = Retired }, ReasonRetired},
		{"long leave", func(s *OfficerState) { s.DutyStatus = LongLeave }, ReasonLongLeave},
		{"not frontline", func(s *OfficerState) { s.Frontline = false }, ReasonNotFrontline},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := oneStation(t)
			s := eligibleState("s")
			tc.mod(&s)
			w.officer("o1", longAgo, s)
			w.recorder("r1", "s", at(longAgo))
			w.assign("r1", "o1", at(longAgo), nil)
			w.checkin("r1", reportDay)
			c := w.engine(reportDay)

			got := figuresOf(w.report(c, "p", reportDay))
			want := figures{1, 1, 1, 0}
			if tc.reason != "" {
				want = figures{}
			}
			if got != want {
				t.Errorf("figures = %+v, want %+v", got, want)
			}
			// An ineligible holder's recorder is to be taken back, for
			// the reason the domain gives.
			l, err := c.Actions(t.Context(), testAdmin, ActionQuery{UnitID: "p", At: reportDay, List: ActionToTakeBack})
			if err != nil {
				t.Fatal(err)
			}
			if tc.reason == "" {
				if l.Total != 0 {
					t.Errorf("to_take_back = %+v, want none", l.Items)
				}
				return
			}
			if l.Total != 1 || l.Items[0].Reason != tc.reason || l.Items[0].Recorder.ID != "r1" || l.Items[0].Officer.ID != "o1" {
				t.Errorf("to_take_back = %+v, want r1 from o1 for %s", l.Items, tc.reason)
			}
		})
	}
}

// TestEligibleSpan checks the interval form of eligibility, which the
// engine uses, against OfficerState.Ineligible, the rule itself.
func TestEligibleSpan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dates := []Date{{}, NewDate(2025, 1, 1), NewDate(2025, 6, 30), NewDate(2026, 1, 1), NewDate(2026, 6, 15), NewDate(2027, 3, 1)}
	pick := func() Date { return dates[rng.IntN(len(dates))] }
	duties := []DutyStatus{OnDuty, OnDuty, TransferredOut, Retired, LongLeave, "bogus"}
	certs := []CertStatus{CertValid, CertValid, CertSuspended, CertRevoked, ""}
	for range 600 {
		s := OfficerState{Frontline: rng.IntN(4) > 0, DutyStatus: duties[rng.IntN(len(duties))],
			Certificate: Certificate{Number: []string{"", "ZF-1", "ZF-2"}[rng.IntN(3)], IssuedOn: pick(), ExpiresOn: pick(),
				AnnualReviewUntil: pick(), Status: certs[rng.IntN(len(certs))]}}
		from, until := eligibleSpan(s)
		for d := NewDate(2024, 12, 25); d.Before(NewDate(2027, 3, 5)); d = d.AddDays(5) {
			want := s.Eligible(d)
			n := dayOf(d)
			if got := n >= from && n <= until; got != want {
				t.Fatalf("state %+v on %s: span says %v, Ineligible says %q", s, d, got, s.Ineligible(d))
			}
		}
	}
}

func TestEquippedRules(t *testing.T) {
	end := reportDay.End()
	tests := []struct {
		name     string
		setup    func(w *world)
		equipped bool
	}{
		{"assigned, in service", func(w *world) { w.assign("r1", "o1", at(longAgo), nil) }, true},
		{"assigned in the last minute of the day", func(w *world) { w.assign("r1", "o1", end.Add(-time.Minute), nil) }, true},
		{"assignment started after the day", func(w *world) { w.assign("r1", "o1", end.Add(time.Minute), nil) }, false},
		{"assignment ended before the day's end", func(w *world) {
			w.assign("r1", "o1", at(longAgo), ptr(at(reportDay)))
		}, false},
		{"assignment ended after the day", func(w *world) {
			w.assign("r1", "o1", at(longAgo), ptr(end.Add(time.Hour)))
		}, true},
		{"recorder in repair", func(w *world) {
			w.assign("r1", "o1", at(longAgo), nil)
			w.status("r1", at(reportDay.AddDays(-3)), StatusInRepair)
		}, false},
		{"recorder lost", func(w *world) {
			w.assign("r1", "o1", at(longAgo), nil)
			w.status("r1", at(reportDay.AddDays(-3)), StatusLost)
		}, false},
		{"recorder retired", func(w *world) {
			w.assign("r1", "o1", at(longAgo), nil)
			w.status("r1", at(reportDay.AddDays(-3)), StatusRetired)
		}, false},
		{"recorder back from repair", func(w *world) {
			w.assign("r1", "o1", at(longAgo), nil)
			w.status("r1", at(reportDay.AddDays(-9)), StatusInRepair)
			w.status("r1", at(reportDay.AddDays(-2)), StatusAssigned)
		}, true},
		{"recorder goes to repair after the day", func(w *world) {
			w.assign("r1", "o1", at(longAgo), nil)
			w.status("r1", end.Add(time.Hour), StatusInRepair)
		}, true},
		{"recorder registered after the day", func(w *world) {
			w.src.recorders["r1"].changes[0].At = end.Add(time.Hour)
			w.assign("r1", "o1", end.Add(2*time.Hour), nil)
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := oneStation(t)
			w.officer("o1", longAgo, eligibleState("s"))
			w.recorder("r1", "s", at(longAgo))
			tc.setup(w)
			c := w.engine(reportDay.AddDays(5))
			r := w.report(c, "p", reportDay)
			want := figures{eligible: 1}
			if tc.equipped {
				want.equipped = 1
			}
			if got := figuresOf(r); got.eligible != want.eligible || got.equipped != want.equipped {
				t.Errorf("figures = %+v, want %+v", got, want)
			}
			l, err := c.Actions(t.Context(), testAdmin, ActionQuery{UnitID: "s", At: reportDay, List: ActionUnequipped})
			if err != nil {
				t.Fatal(err)
			}
			if (l.Total == 0) != tc.equipped {
				t.Errorf("unequipped = %+v, equipped %v", l.Items, tc.equipped)
			}
		})
	}
}

// TestSubtreeAggregation sums a province from its stations, counting each
// officer at the unit they held and each spare where it is stocked.
func TestSubtreeAggregation(t *testing.T) {
	w := newWorld(t)
	w.unit("p", "", LevelProvince)
	w.unit("c1", "p", LevelCity)
	w.unit("c2", "p", LevelCity)
	w.unit("x1", "c1", LevelCounty)
	w.unit("s1", "x1", LevelStation)
	w.unit("s2", "x1", LevelStation)
	w.unit("x2", "c2", LevelCounty)
	// s1: 3 eligible, 2 equipped; s2: 1 eligible, 1 equipped; x1 itself:
	// 1 eligible, none equipped, 1 spare; x2: 2 eligible, 1 equipped;
	// c2: 1 spare; p: 1 ineligible officer.
	n := 0
	add := func(unit string, equipped bool) {
		n++
		o, r := "o"+string(rune('a'+n)), "r"+string(rune('a'+n))
		w.officer(o, longAgo, eligibleState(unit))
		if equipped {
			w.recorder(r, unit, at(longAgo))
			w.assign(r, o, at(longAgo), nil)
		}
	}
	add("s1", true)
	add("s1", true)
	add("s1", false)
	add("s2", true)
	add("x1", false)
	add("x2", true)
	add("x2", false)
	w.recorder("spare-x1", "x1", at(longAgo))
	w.recorder("spare-c2", "c2", at(longAgo))
	w.recorder("broken-c2", "c2", at(longAgo))
	w.status("broken-c2", at(longAgo.AddDays(1)), StatusInRepair)
	notFrontline := eligibleState("p")
	notFrontline.Frontline = false
	w.officer("boss", longAgo, notFrontline)

	r := w.report(w.engine(reportDay), "p", reportDay)
	want := map[string]figures{
		"p": {7, 4, 0, 2}, "c1": {5, 3, 0, 1}, "x1": {5, 3, 0, 1}, "s1": {3, 2, 0, 0}, "s2": {1, 1, 0, 0},
		"c2": {2, 1, 0, 1}, "x2": {2, 1, 0, 0},
	}
	var walk func(CoverageReport)
	seen := 0
	walk = func(r CoverageReport) {
		seen++
		if got := figuresOf(r); got != want[r.Unit.ID] {
			t.Errorf("%s: %+v, want %+v", r.Unit.ID, got, want[r.Unit.ID])
		}
		if r.Shortfall != r.Eligible-r.Equipped || r.ToProcure != max(0, r.Shortfall-r.Spare) {
			t.Errorf("%s: shortfall %d, to procure %d", r.Unit.ID, r.Shortfall, r.ToProcure)
		}
		for _, c := range r.Children {
			walk(c)
		}
	}
	walk(r)
	if seen != len(want) {
		t.Errorf("walked %d units, want %d", seen, len(want))
	}
	if r.Rate == nil || *r.Rate != 4.0/7 {
		t.Errorf("rate = %v, want 4/7", r.Rate)
	}

	// Depth bounds the children; the figures stay those of the subtree.
	c := w.engine(reportDay)
	for depth, units := range map[int]int{0: 1, 1: 3, 2: 5} {
		r, err := c.Report(t.Context(), testAdmin, CoverageQuery{UnitID: "p", At: reportDay, Depth: depth})
		if err != nil {
			t.Fatal(err)
		}
		var count func(CoverageReport) int
		count = func(r CoverageReport) int {
			n := 1
			for _, c := range r.Children {
				n += count(c)
			}
			return n
		}
		if got := count(r); got != units || r.Eligible != 7 {
			t.Errorf("depth %d: %d units, eligible %d; want %d units, 7", depth, got, r.Eligible, units)
		}
	}
}

func TestNullRate(t *testing.T) {
	w := oneStation(t)
	w.unit("empty", "c", LevelCounty)
	w.officer("o1", longAgo, eligibleState("s"))
	w.recorder("spare", "empty", at(longAgo))
	r := w.report(w.engine(reportDay), "empty", reportDay)
	if r.Eligible != 0 || r.Rate != nil || r.ActiveRate != nil || r.Behind {
		t.Errorf("empty unit: eligible %d rate %v active_rate %v behind %v; want 0, null, null, false",
			r.Eligible, r.Rate, r.ActiveRate, r.Behind)
	}
	if r.ProjectedFullDate != (Date{}) || r.ProjectionNote != ProjectionNoEligible {
		t.Errorf("projection %s (%s), want none (%s)", r.ProjectedFullDate, r.ProjectionNote, ProjectionNoEligible)
	}
	if r.Shortfall != 0 || r.Spare != 1 || r.ToProcure != 0 {
		t.Errorf("shortfall %d spare %d to procure %d", r.Shortfall, r.Spare, r.ToProcure)
	}
	if p := w.report(w.engine(reportDay), "s", reportDay); p.Rate == nil || *p.Rate != 0 {
		t.Errorf("station with one unequipped officer: rate %v, want 0", p.Rate)
	}
}

func TestActiveWindow(t *testing.T) {
	tests := []struct {
		daysBefore int
		active     bool
	}{
		{0, true},
		{29, true},  // the 30-day window is t-29 .. t
		{30, false}, // one day outside
		{31, false},
		{-1, false}, // a check-in after the day does not count for it
	}
	for _, tc := range tests {
		w := oneStation(t)
		w.officer("o1", longAgo, eligibleState("s"))
		w.recorder("r1", "s", at(longAgo))
		w.assign("r1", "o1", at(longAgo), nil)
		w.checkin("r1", reportDay.AddDays(-tc.daysBefore))
		c := w.engine(reportDay.AddDays(5))
		r := w.report(c, "p", reportDay)
		if (r.Active == 1) != tc.active || r.Equipped != 1 {
			t.Errorf("check-in %d days before: active %d equipped %d, want active %v", tc.daysBefore, r.Active, r.Equipped, tc.active)
		}
		if tc.active && (r.ActiveRate == nil || *r.ActiveRate != 1) {
			t.Errorf("active rate %v, want 1", r.ActiveRate)
		}
		l, err := c.Actions(t.Context(), testAdmin, ActionQuery{UnitID: "p", At: reportDay, List: ActionNotSeen})
		if err != nil {
			t.Fatal(err)
		}
		if (l.Total == 0) != tc.active {
			t.Errorf("check-in %d days before: not_seen %+v", tc.daysBefore, l.Items)
		}
		if l.Total == 1 && tc.daysBefore > 0 && l.Items[0].LastSeenOn != reportDay.AddDays(-tc.daysBefore) {
			t.Errorf("last seen %s, want %s", l.Items[0].LastSeenOn, reportDay.AddDays(-tc.daysBefore))
		}
	}
}

// TestHistory asks about past days and gets the states of those days:
// back-dated officer versions, recorder statuses and assignments.
func TestHistory(t *testing.T) {
	w := oneStation(t)
	w.unit("s2", "x", LevelStation)
	w.officer("o1", longAgo, eligibleState("s"))
	w.officer("o2", longAgo, eligibleState("s"))
	// o1 moves to s2 on 1 March and is transferred out on 1 May.
	w.version("o1", d26(time.March, 1), func(s *OfficerState) { s.UnitID = "s2" })
	w.version("o1", d26(time.May, 1), func(s *OfficerState) { s.DutyStatus = TransferredOut })
	// o2's review lapses on 31 March and is renewed (recorded later,
	// effective 10 April).
	w.version("o2", longAgo.AddDays(1), func(s *OfficerState) { s.Certificate.AnnualReviewUntil = d26(time.March, 31) })
	w.version("o2", d26(time.April, 10), func(s *OfficerState) { s.Certificate.AnnualReviewUntil = d26(time.December, 31) })
	// o2 holds r2 from February; r2 is in repair 1-20 June.
	w.recorder("r2", "s", at(longAgo))
	w.assign("r2", "o2", at(d26(time.February, 1)), nil)
	w.status("r2", at(d26(time.June, 1)), StatusInRepair)
	w.status("r2", at(d26(time.June, 20)), StatusAssigned)

	c := w.engine(d26(time.July, 1))
	tests := []struct {
		day   Date
		unit  string
		wants figures
	}{
		{d26(time.January, 15), "s", figures{2, 0, 0, 1}},
		{d26(time.February, 15), "s", figures{2, 1, 0, 0}},
		{d26(time.February, 28), "s2", figures{0, 0, 0, 0}},
		{d26(time.March, 1), "s", figures{1, 1, 0, 0}},
		{d26(time.March, 1), "s2", figures{1, 0, 0, 0}},
		{d26(time.April, 5), "x", figures{1, 0, 0, 0}}, // o2 lapsed
		{d26(time.April, 10), "x", figures{2, 1, 0, 0}},
		{d26(time.May, 1), "x", figures{1, 1, 0, 0}}, // o1 gone
		{d26(time.June, 10), "x", figures{1, 0, 0, 0}},
		{d26(time.June, 25), "x", figures{1, 1, 0, 0}},
	}
	for _, tc := range tests {
		if got := figuresOf(w.report(c, tc.unit, tc.day)); got != tc.wants {
			t.Errorf("%s on %s: %+v, want %+v", tc.unit, tc.day, got, tc.wants)
		}
	}
}

func TestShortfallMinusSpare(t *testing.T) {
	tests := []struct {
		eligible, equipped, spare, other int // other: recorders out of service in stock
		shortfall, toProcure             int
	}{
		{5, 2, 0, 0, 3, 3},
		{5, 2, 1, 0, 3, 2},
		{5, 2, 3, 0, 3, 0},
		{5, 2, 7, 0, 3, 0}, // more spares than gaps: nothing to buy, never negative
		{5, 2, 1, 4, 3, 2}, // broken ones are not spares
		{0, 0, 2, 0, 0, 0},
	}
	for _, tc := range tests {
		w := oneStation(t)
		for i := range tc.eligible {
			o := "o" + string(rune('a'+i))
			w.officer(o, longAgo, eligibleState("s"))
			if i < tc.equipped {
				w.recorder("r"+o, "s", at(longAgo))
				w.assign("r"+o, o, at(longAgo), nil)
			}
		}
		for i := range tc.spare {
			w.recorder("spare"+string(rune('a'+i)), "x", at(longAgo))
		}
		for i := range tc.other {
			id := "broken" + string(rune('a'+i))
			w.recorder(id, "x", at(longAgo))
			w.status(id, at(longAgo.AddDays(1)), []DeviceStatus{StatusInRepair, StatusLost, StatusRetired}[i%3])
		}
		r := w.report(w.engine(reportDay), "p", reportDay)
		if r.Shortfall != tc.shortfall || r.Spare != tc.spare || r.ToProcure != tc.toProcure {
			t.Errorf("%+v: shortfall %d spare %d to procure %d", tc, r.Shortfall, r.Spare, r.ToProcure)
		}
	}
}

// rising builds a province of 20 eligible officers, a quarter equipped on
// the plan's start, and equips one more every perDays days from 1 Jan 2026
// (none if perDays is 0).
func rising(t *testing.T, perDays int) *world {
	w := oneStation(t)
	start := DefaultPlanStart.AddDays(-10)
	for i := range 20 {
		o := "o" + string(rune('a'+i))
		w.officer(o, start, eligibleState("s"))
		w.recorder("r"+o, "s", at(start))
		switch {
		case i < 5:
			w.assign("r"+o, o, at(start), nil)
		case perDays > 0:
			w.assign("r"+o, o, at(d26(time.January, 1).AddDays((i-5)*perDays)), nil)
		}
	}
	return w
}

func TestProjection(t *testing.T) {
	t.Run("rising", func(t *testing.T) {
		// One more of 20 every 10 days: +0.005 a day. On 15 March 2026
		// eight are equipped beyond the first five (days 0..70).
		w := rising(t, 10)
		today := d26(time.March, 15)
		r := w.report(w.engine(today), "p", today)
		if r.Equipped != 13 {
			t.Fatalf("equipped %d, want 13", r.Equipped)
		}
		// The trend window's samples hold 5 (till the end of 2025), then
		// a straight rise; least squares over them gives a slope, and
		// from today's 13/20 the remaining 7/20 take (0.35/slope) days.
		days := []day{}
		for i := 6; i >= 0; i-- {
			days = append(days, dayOf(today)-day(i*15))
		}
		var rates []*float64
		for _, d := range days {
			n := 5
			if jan := dayOf(d26(time.January, 1)); d >= jan {
				n += int((d-jan)/10) + 1
			}
			rates = append(rates, ptr(float64(n)/20))
		}
		want, note := project(days, rates, dayOf(today), ptr(13.0/20))
		if note != ProjectionOnPace || r.ProjectionNote != note || r.ProjectedFullDate != dateOfDay(want) {
			t.Fatalf("projected %s (%s), want %s", r.ProjectedFullDate, r.ProjectionNote, dateOfDay(want))
		}
		if !r.ProjectedFullDate.After(today) || r.ProjectedFullDate.After(today.AddDays(120)) {
			t.Errorf("projected %s: not within four months of %s at 0.5 points a day", r.ProjectedFullDate, today)
		}
	})
	t.Run("flat", func(t *testing.T) {
		w := rising(t, 0)
		r := w.report(w.engine(reportDay), "p", reportDay)
		if r.ProjectedFullDate != (Date{}) || r.ProjectionNote != ProjectionNotAtPace {
			t.Errorf("projected %s (%s), want none (%s)", r.ProjectedFullDate, r.ProjectionNote, ProjectionNotAtPace)
		}
	})
	t.Run("falling", func(t *testing.T) {
		w := rising(t, 0)
		for i, o := range []string{"oa", "ob", "oc"} {
			w.version(o, reportDay.AddDays(-60+20*i), func(s *OfficerState) {}) // no change of state
			w.status("r"+o, at(reportDay.AddDays(-60+20*i)), StatusLost)
		}
		r := w.report(w.engine(reportDay), "p", reportDay)
		if r.Equipped != 2 || r.ProjectionNote != ProjectionNotAtPace {
			t.Errorf("equipped %d, projection %s (%s)", r.Equipped, r.ProjectedFullDate, r.ProjectionNote)
		}
	})
	t.Run("already full", func(t *testing.T) {
		w := rising(t, 5) // all 15 more by the end of February
		r := w.report(w.engine(reportDay), "p", reportDay)
		if r.Rate == nil || *r.Rate != 1 || r.ProjectedFullDate != reportDay || r.ProjectionNote != ProjectionReached {
			t.Errorf("rate %v, projected %s (%s); want 1, %s (%s)", r.Rate, r.ProjectedFullDate, r.ProjectionNote, reportDay, ProjectionReached)
		}
	})
	t.Run("short history", func(t *testing.T) {
		w := oneStation(t)
		w.officer("o1", reportDay.AddDays(-20), eligibleState("s"))
		r := w.report(w.engine(reportDay), "p", reportDay)
		if r.ProjectionNote != ProjectionShortHistory {
			t.Errorf("projection %s (%s), want %s", r.ProjectedFullDate, r.ProjectionNote, ProjectionShortHistory)
		}
	})
}

func TestProjectFit(t *testing.T) {
	today := dayOf(reportDay)
	days := []day{today - 90, today - 75, today - 60, today - 45, today - 30, today - 15, today}
	line := func(at0, slope float64) []*float64 {
		var rs []*float64
		for _, d := range days {
			rs = append(rs, ptr(at0+slope*float64(d-today)))
		}
		return rs
	}
	tests := []struct {
		name    string
		rates   []*float64
		current float64
		ahead   day
		note    string
	}{
		{"exact line", line(0.5, 0.01), 0.5, 50, ProjectionOnPace},
		{"from today's rate", line(0.5, 0.01), 0.6, 40, ProjectionOnPace},
		{"flat", line(0.5, 0), 0.5, 0, ProjectionNotAtPace},
		{"too slow to see", line(0.5, 1e-7), 0.5, 0, ProjectionNotAtPace},
		{"gaps skipped", []*float64{nil, nil, nil, nil, ptr(0.3), ptr(0.45), ptr(0.6)}, 0.6, 40, ProjectionOnPace},
		{"two points", []*float64{nil, nil, nil, nil, nil, ptr(0.45), ptr(0.6)}, 0.6, 0, ProjectionShortHistory},
		{"centuries away", line(0.5, 1e-5), 0.5, 0, ProjectionNotAtPace},
	}
	for _, tc := range tests {
		got, note := project(days, tc.rates, today, &tc.current)
		if note != tc.note || (note == ProjectionOnPace && got-today != tc.ahead) {
			t.Errorf("%s: %d days ahead (%s), want %d (%s)", tc.name, got-today, note, tc.ahead, tc.note)
		}
	}
}

func TestMilestones(t *testing.T) {
	w := rising(t, 0) // 5 of 20 equipped from before the plan's start: 0.25
	c := w.engine(reportDay)
	ctx := context.Background()
	m, err := c.Milestones(ctx, testAdmin, "p")
	if err != nil {
		t.Fatal(err)
	}
	start, end := dayOf(DefaultPlanStart), dayOf(DefaultDeadline)
	linear := func(d Date) float64 { return 0.25 + 0.75*float64(dayOf(d)-start)/float64(end-start) }
	if m.PlanStart != DefaultPlanStart || m.Deadline != DefaultDeadline || m.StartRate != 0.25 || m.StartRateSet {
		t.Errorf("plan %+v", m)
	}
	if len(m.Targets) != 3 {
		t.Fatalf("targets %+v, want 2024, 2025, 2026", m.Targets)
	}
	for i, y := range []int{2024, 2025, 2026} {
		tg := m.Targets[i]
		if tg.Year != y || tg.On != NewDate(y, 12, 31) || tg.Set || math.Abs(tg.Rate-linear(tg.On)) > 1e-4 {
			t.Errorf("target %+v, want %d at %.4f", tg, y, linear(NewDate(y, 12, 31)))
		}
	}
	// The default line is linear on any day; 25% is behind it by now.
	r := w.report(c, "p", reportDay)
	if r.Milestone == nil || math.Abs(*r.Milestone-linear(reportDay)) > 1e-4 || !r.Behind {
		t.Errorf("milestone %v behind %v, want %.4f, behind", r.Milestone, r.Behind, linear(reportDay))
	}
	// Before the plan there is no milestone; from the deadline it is 100%.
	if r := w.report(c, "p", DefaultPlanStart.AddDays(-1)); r.Milestone != nil || r.Behind {
		t.Errorf("before the plan: milestone %v behind %v", r.Milestone, r.Behind)
	}
	if r := w.report(w.engine(NewDate(2027, 1, 5)), "p", NewDate(2027, 1, 2)); r.Milestone == nil || *r.Milestone != 1 {
		t.Errorf("after the deadline: milestone %v", r.Milestone)
	}

	// Edited: 2024 stays at the start rate, 2025 reaches 0.3. The line
	// runs through the edited points.
	m, err = c.SetMilestones(ctx, testAdmin, "p", MilestoneInput{Targets: []YearTarget{{2025, 0.3}, {2024, 0.25}}})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Targets[0].Set || m.Targets[0].Rate != 0.25 || !m.Targets[1].Set || m.Targets[1].Rate != 0.3 || m.Targets[2].Set || m.Targets[2].Rate != 1 {
		t.Errorf("edited targets %+v", m.Targets)
	}
	if m.UpdatedAt == nil || m.UpdatedBy != testAdmin.ID {
		t.Errorf("updated %v by %q", m.UpdatedAt, m.UpdatedBy)
	}
	mid := NewDate(2025, 7, 2) // 183 of 365 days into 2025
	want := 0.25 + 0.05*float64(dayOf(mid)-dayOf(NewDate(2024, 12, 31)))/365
	if r := w.report(c, "p", mid); r.Milestone == nil || math.Abs(*r.Milestone-want) > 1e-4 || !r.Behind {
		t.Errorf("edited milestone on %s: %v (behind %v), want %.4f, behind", mid, r.Milestone, r.Behind, want)
	}
	if r := w.report(c, "p", NewDate(2024, 12, 31)); r.Milestone == nil || *r.Milestone != 0.25 || r.Behind {
		t.Errorf("edited milestone at the end of 2024: %v (behind %v), want 0.25 and on track", r.Milestone, r.Behind)
	}
	// 2026 runs from 0.3 to 1: on 15 June 0.3 + 0.7 × 165/365.
	want = 0.3 + 0.7*float64(dayOf(reportDay)-dayOf(NewDate(2025, 12, 31)))/365
	if r := w.report(c, "s", reportDay); r.Milestone == nil || math.Abs(*r.Milestone-want) > 1e-4 || !r.Behind {
		t.Errorf("station's milestone (the province's line) %v, want %.4f", r.Milestone, want)
	}

	// A set start rate and plan start replace the measured ones.
	m, err = c.SetMilestones(ctx, testAdmin, "p", MilestoneInput{PlanStart: NewDate(2025, 1, 1), StartRate: ptr(0.1)})
	if err != nil {
		t.Fatal(err)
	}
	if m.PlanStart != NewDate(2025, 1, 1) || !m.StartRateSet || m.StartRate != 0.1 || len(m.Targets) != 2 || m.Targets[0].Year != 2025 {
		t.Errorf("plan %+v", m)
	}
}

func TestMilestoneValidation(t *testing.T) {
	w := rising(t, 0)
	c := w.engine(reportDay)
	tests := []struct {
		name string
		in   MilestoneInput
	}{
		{"rate above 1", MilestoneInput{Targets: []YearTarget{{2025, 1.2}}}},
		{"negative rate", MilestoneInput{Targets: []YearTarget{{2025, -0.1}}}},
		{"not a plan year", MilestoneInput{Targets: []YearTarget{{2023, 0.5}}}},
		{"after the deadline", MilestoneInput{Targets: []YearTarget{{2027, 1}}}},
		{"deadline below 100%", MilestoneInput{Targets: []YearTarget{{2026, 0.9}}}},
		{"falling", MilestoneInput{Targets: []YearTarget{{2024, 0.6}, {2025, 0.5}}}},
		{"below the set start", MilestoneInput{StartRate: ptr(0.4), Targets: []YearTarget{{2024, 0.3}}}},
		{"twice", MilestoneInput{Targets: []YearTarget{{2025, 0.5}, {2025, 0.6}}}},
		{"start in the future", MilestoneInput{PlanStart: reportDay.AddDays(1)}},
		{"start after the deadline", MilestoneInput{PlanStart: NewDate(2027, 1, 1)}},
		{"start rate NaN", MilestoneInput{StartRate: ptr(math.NaN())}},
	}
	for _, tc := range tests {
		_, err := c.SetMilestones(t.Context(), testAdmin, "p", tc.in)
		if ErrorCode(err) != EINVALID {
			t.Errorf("%s: %v, want invalid", tc.name, err)
		}
	}
	mgr := User{ID: "m", Role: RoleEquipmentManager, UnitID: "c", UnitPath: "/p/c/"}
	if _, err := c.SetMilestones(t.Context(), mgr, "p", MilestoneInput{}); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("a city manager sets the province's plan: %v", err)
	}
	if m, err := c.Milestones(t.Context(), mgr, ""); err != nil || m.Province.ID != "p" {
		t.Errorf("a city manager reads the province's plan: %+v, %v", m, err)
	}
	auditor := User{ID: "a", Role: RoleAuditor, UnitID: "p", UnitPath: "/p/"}
	if _, err := c.SetMilestones(t.Context(), auditor, "p", MilestoneInput{}); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("an auditor sets the plan: %v", err)
	}
}

func TestCertDueList(t *testing.T) {
	w := oneStation(t)
	due := func(id string, expires, review Date) {
		s := eligibleState("s")
		s.Certificate.ExpiresOn, s.Certificate.AnnualReviewUntil = expires, review
		w.officer(id, longAgo, s)
	}
	far := NewDate(2029, 1, 1)
	due("in10", reportDay.AddDays(10), far)
	due("review45", far, reportDay.AddDays(45))
	due("both80", reportDay.AddDays(80), reportDay.AddDays(85))
	due("today", reportDay, far)
	due("gone", reportDay.AddDays(-1), far) // already out: not "due"
	due("safe", far, far)
	c := w.engine(reportDay)
	for days, want := range map[int][]string{30: {"in10", "today"}, 60: {"in10", "review45", "today"}, 90: {"both80", "in10", "review45", "today"}} {
		l, err := c.Actions(t.Context(), testAdmin, ActionQuery{UnitID: "p", At: reportDay, List: ActionCertDue, Days: days})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, it := range l.Items {
			got = append(got, it.Officer.ID)
			switch it.Officer.ID {
			case "in10":
				if it.Reason != ReasonCertExpires || *it.DaysLeft != 10 || it.DueOn != reportDay.AddDays(10) {
					t.Errorf("in10: %+v", it)
				}
			case "review45":
				if it.Reason != ReasonReviewDue || *it.DaysLeft != 45 {
					t.Errorf("review45: %+v", it)
				}
			case "both80":
				if it.Reason != ReasonCertExpires || *it.DaysLeft != 80 {
					t.Errorf("both80: %+v", it)
				}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) || l.Days != days {
			t.Errorf("within %d days: %v, want %v", days, got, want)
		}
	}
}

func TestActionPagingAndScope(t *testing.T) {
	w := oneStation(t)
	w.unit("s2", "x", LevelStation)
	for i := range 7 {
		unit := "s"
		if i%2 == 1 {
			unit = "s2"
		}
		w.officer("o"+string(rune('a'+i)), longAgo, eligibleState(unit))
	}
	c := w.engine(reportDay)
	var all []string
	after := ""
	for range 10 {
		l, err := c.Actions(t.Context(), testAdmin, ActionQuery{UnitID: "p", List: ActionUnequipped, Page: Page{Limit: 3, After: after}})
		if err != nil {
			t.Fatal(err)
		}
		if l.Total != 7 || l.At != reportDay {
			t.Fatalf("total %d at %s", l.Total, l.At)
		}
		for _, it := range l.Items {
			all = append(all, it.Officer.ID)
		}
		if l.Next == nil {
			break
		}
		after = *l.Next
	}
	if len(all) != 7 || all[0] != "oa" || all[4] != "ob" {
		t.Errorf("pages: %v (s's officers first, then s2's)", all)
	}
	mgr := User{ID: "m", Role: RoleEquipmentManager, UnitID: "s2", UnitPath: "/p/c/x/s2/"}
	if l, err := c.Actions(t.Context(), mgr, ActionQuery{List: ActionUnequipped}); err != nil || l.Total != 3 || l.Unit.ID != "s2" {
		t.Errorf("station manager's own list: %+v, %v", l, err)
	}
	if _, err := c.Actions(t.Context(), mgr, ActionQuery{UnitID: "s", List: ActionUnequipped}); ErrorCode(err) != ENOTFOUND {
		t.Errorf("another station's list: %v, want not found", err)
	}
	if _, err := c.Actions(t.Context(), testAdmin, ActionQuery{List: "nope"}); ErrorCode(err) != EINVALID {
		t.Errorf("unknown list: %v", err)
	}
	if _, err := c.Actions(t.Context(), testAdmin, ActionQuery{List: ActionCertDue, Days: 400}); ErrorCode(err) != EINVALID {
		t.Errorf("days 400: %v", err)
	}
}

func TestReportAccess(t *testing.T) {
	w := oneStation(t)
	w.unit("p2", "", LevelProvince)
	c := w.engine(reportDay)
	ctx := t.Context()
	mgr := User{ID: "m", Role: RoleEquipmentManager, UnitID: "x", UnitPath: "/p/c/x/"}
	if r, err := c.Report(ctx, mgr, CoverageQuery{Depth: 1}); err != nil || r.Unit.ID != "x" || r.At != reportDay || len(r.Children) != 1 {
		t.Errorf("default unit and day: %+v, %v", r, err)
	}
	if _, err := c.Report(ctx, mgr, CoverageQuery{UnitID: "c"}); ErrorCode(err) != ENOTFOUND {
		t.Errorf("a unit above the user's: %v, want not found", err)
	}
	if _, err := c.Report(ctx, mgr, CoverageQuery{UnitID: "nope"}); ErrorCode(err) != ENOTFOUND {
		t.Errorf("no such unit: %v", err)
	}
	officer := User{ID: "o", Role: RoleOfficer, UnitID: "s", UnitPath: "/p/c/x/s/"}
	if _, err := c.Report(ctx, officer, CoverageQuery{}); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("an officer: %v, want forbidden", err)
	}
	if _, err := c.Report(ctx, testAdmin, CoverageQuery{}); ErrorCode(err) != EINVALID {
		t.Errorf("admin over two provinces without a unit: %v, want invalid", err)
	}
	if _, err := c.Report(ctx, testAdmin, CoverageQuery{UnitID: "p", At: reportDay.AddDays(1)}); ErrorCode(err) != EINVALID {
		t.Errorf("a future day: %v, want invalid", err)
	}
}

func TestSeries(t *testing.T) {
	w := rising(t, 10)
	c := w.engine(reportDay)
	s, err := c.Series(t.Context(), testAdmin, "p", NewDate(2025, 11, 10), Date{})
	if err != nil {
		t.Fatal(err)
	}
	var days []Date
	for _, p := range s.Points {
		days = append(days, p.At)
	}
	want := []Date{NewDate(2025, 11, 30), NewDate(2025, 12, 31), d26(1, 31), d26(2, 28), d26(3, 31), d26(4, 30), d26(5, 31), reportDay}
	if !slices.Equal(days, want) {
		t.Fatalf("days %v, want %v", days, want)
	}
	for _, p := range s.Points {
		r := w.report(c, "p", p.At)
		if p.Eligible != r.Eligible || p.Equipped != r.Equipped || *p.Rate != *r.Rate || *p.Milestone != *r.Milestone || p.Behind != r.Behind {
			t.Errorf("%s: series %+v, report %+v", p.At, p, r)
		}
	}
	if _, err := c.Series(t.Context(), testAdmin, "p", NewDate(2010, 1, 1), Date{}); ErrorCode(err) != EINVALID {
		t.Errorf("16 years: %v", err)
	}
	if _, err := c.Series(t.Context(), testAdmin, "p", reportDay, reportDay.AddDays(-1)); ErrorCode(err) != EINVALID {
		t.Errorf("from after to: %v", err)
	}
	def, err := c.Series(t.Context(), testAdmin, "p", Date{}, Date{})
	if err != nil || len(def.Points) != 12 || def.Points[0].At != NewDate(2025, 7, 31) {
		t.Errorf("default series: %d points from %v, %v", len(def.Points), def.From, err)
	}
}

// TestRefresh changes the world after the engine loaded it: a report
// right after sees the change, through the feed, without a reload.
func TestRefresh(t *testing.T) {
	w := oneStation(t)
	w.officer("o1", longAgo, eligibleState("s"))
	w.recorder("r1", "s", at(longAgo))
	c := w.engine(reportDay)
	if got := figuresOf(w.report(c, "p", reportDay)); got != (figures{1, 0, 0, 1}) {
		t.Fatalf("before: %+v", got)
	}
	w.assign("r1", "o1", at(reportDay.AddDays(-1)), nil)
	w.checkin("r1", reportDay)
	w.officer("o2", longAgo, eligibleState("s"))
	w.unit("s2", "x", LevelStation)
	w.officer("o3", longAgo, eligibleState("s2"))
	if got := figuresOf(w.report(c, "p", reportDay)); got != (figures{3, 1, 1, 0}) {
		t.Errorf("after: %+v", got)
	}
	if r := w.report(c, "s2", reportDay); r.Eligible != 1 {
		t.Errorf("new station: %+v", r)
	}
	if w.src.loads != 1 {
		t.Errorf("%d loads, want 1: refreshes read the feed", w.src.loads)
	}
	// Too many changes at once: the engine loads everything again.
	c.cfg.MaxChanges = 2
	for i := range 3 {
		w.officer("n"+string(rune('a'+i)), longAgo, eligibleState("s"))
	}
	if got := w.report(c, "p", reportDay); got.Eligible != 6 || w.src.loads != 2 {
		t.Errorf("after a burst: eligible %d, %d loads", got.Eligible, w.src.loads)
	}
}

func TestDaySet(t *testing.T) {
	var s daySet
	days := []day{20000, 19990, 20100, 19800, 20063, 20064}
	for _, d := range days {
		s.add(d)
	}
	for d := day(19700); d < 20200; d++ {
		want := slices.Contains(days, d)
		if got := s.anyIn(d, d); got != want {
			t.Fatalf("day %d: %v, want %v", d, got, want)
		}
	}
	tests := []struct {
		from, to day
		want     bool
	}{
		{19801, 19989, false}, {19801, 19990, true}, {20001, 20062, false}, {20001, 20063, true},
		{20065, 20099, false}, {20065, 20300, true}, {19000, 19799, false}, {20101, 30000, false},
	}
	for _, tc := range tests {
		if got := s.anyIn(tc.from, tc.to); got != tc.want {
			t.Errorf("anyIn(%d, %d) = %v", tc.from, tc.to, got)
		}
	}
	for d, want := range map[day]day{20100: 20100, 20099: 20064, 20063: 20063, 19999: 19990, 19800: 19800} {
		if got, ok := s.lastOnOrBefore(d); !ok || got != want {
			t.Errorf("lastOnOrBefore(%d) = %d, %v; want %d", d, got, ok, want)
		}
	}
	if _, ok := s.lastOnOrBefore(19799); ok {
		t.Error("lastOnOrBefore before the first day")
	}
}

func TestDayNumbers(t *testing.T) {
	for d := NewDate(1949, 10, 1); d.Before(NewDate(2101, 1, 1)); d = d.AddDays(97) {
		if got := dateOfDay(dayOf(d)); got != d {
			t.Fatalf("%s → %d → %s", d, dayOf(d), got)
		}
		if dayEndMs(dayOf(d)) != d.End().UnixMilli() {
			t.Fatalf("%s: end %d, want %d", d, dayEndMs(dayOf(d)), d.End().UnixMilli())
		}
	}
}

// TestCountAtMatchesRules checks the counting pass (merged segments, the
// walk over sorted days, the split between workers) against the rules
// applied one entity and one day at a time, on a random history.
func TestCountAtMatchesRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	w := newWorld(t)
	w.unit("p", "", LevelProvince)
	units := []string{"p"}
	for i := range 12 {
		id := "u" + string(rune('a'+i))
		w.unit(id, units[rng.IntN(len(units))], LevelStation)
		units = append(units, id)
	}
	start := NewDate(2025, 1, 1)
	instant := func() time.Time {
		return start.Start().Add(time.Duration(rng.Int64N(int64(540 * 24 * time.Hour))))
	}
	var officers []string
	for i := range 60 {
		id := "o" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		officers = append(officers, id)
		s := eligibleState(units[rng.IntN(len(units))])
		s.Certificate.AnnualReviewUntil = NewDate(2025, time.Month(6+rng.IntN(12)), 1)
		w.officer(id, start.AddDays(rng.IntN(200)), s)
		for range rng.IntN(4) {
			w.version(id, start.AddDays(200+rng.IntN(300)), func(s *OfficerState) {
				s.UnitID = units[rng.IntN(len(units))]
				s.DutyStatus = []DutyStatus{OnDuty, OnDuty, LongLeave}[rng.IntN(3)]
				s.Certificate.AnnualReviewUntil = NewDate(2026, time.Month(1+rng.IntN(12)), 1)
			})
		}
	}
	for i := range 80 {
		id := "r" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		w.recorder(id, units[rng.IntN(len(units))], instant())
		var events []time.Time
		for range 2 + rng.IntN(8) {
			events = append(events, instant())
		}
		slices.SortFunc(events, func(a, b time.Time) int { return a.Compare(b) })
		for j, e := range events {
			switch rng.IntN(4) {
			case 0:
				w.status(id, e, []DeviceStatus{StatusInRepair, StatusLost, StatusInStock, StatusRetired}[rng.IntN(4)])
			default:
				var end *time.Time
				if j+1 < len(events) && rng.IntN(3) > 0 {
					end = &events[j+1]
				}
				w.src.mu.Lock()
				r := w.src.recorders[id]
				r.asgs = append(r.asgs, Assignment{DeviceID: id, OfficerID: officers[rng.IntN(len(officers))], StartAt: e, EndAt: end})
				w.src.mu.Unlock()
			}
		}
		for range rng.IntN(40) {
			w.checkin(id, start.AddDays(rng.IntN(540)))
		}
	}
	c := w.engine(NewDate(2026, 7, 1))
	if err := c.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	ix := c.ix
	var days []day
	for d := start.AddDays(-3); d.Before(NewDate(2026, 7, 1)); d = d.AddDays(11) {
		days = append(days, dayOf(d))
	}
	defer func(n int) { parallelMin = n }(parallelMin)
	var seen unitCounts
	for _, d := range days {
		c := naiveCounts(ix, d, 30)[0]
		seen.eligible, seen.equipped = max(seen.eligible, c.eligible), max(seen.equipped, c.equipped)
		seen.active, seen.spare = max(seen.active, c.active), max(seen.spare, c.spare)
	}
	if seen.eligible == 0 || seen.equipped == 0 || seen.active == 0 || seen.spare == 0 {
		t.Fatalf("the random history never has some figure: %+v", seen)
	}
	for _, min := range []int{1 << 30, 0} {
		parallelMin = min
		full := len(days) / 2
		got := ix.countAt(days, 30, full)
		for j, d := range days {
			want := naiveCounts(ix, d, 30)
			if j < full {
				// Before full: eligible and equipped only.
				for u := range want {
					want[u].active, want[u].spare = 0, 0
				}
			}
			if !slices.Equal(got[j], want) {
				t.Fatalf("parallelMin %d, %s: countAt %v, rules %v", min, dateOfDay(d), got[j], want)
			}
		}
	}
}

// naiveCounts applies the rules entity by entity with the index's lookups.
func naiveCounts(ix *covIndex, d day, window int32) []unitCounts {
	own := make([]unitCounts, len(ix.units))
	end := dayEndMs(d)
	held := map[int32]uint8{}
	for i := range ix.recorders {
		r := &ix.recorders[i]
		ci := r.changeAt(end)
		if ci < 0 || !r.changes[ci].status.inService() {
			continue
		}
		if h := r.holderAt(end); h >= 0 {
			f := holdsInService
			if r.seen.anyIn(d-window+1, d) {
				f |= holdsActive
			}
			held[h] |= f
		} else if r.changes[ci].status == stInStock {
			own[r.changes[ci].unit].spare++
		}
	}
	for i := range ix.officers {
		o := &ix.officers[i]
		vi := o.versionAt(d)
		if vi < 0 || !o.states[vi].Eligible(dateOfDay(d)) {
			continue
		}
		u := o.vers[vi].unit
		own[u].eligible++
		if f := held[int32(i)]; f&holdsInService != 0 {
			own[u].equipped++
			if f&holdsActive != 0 {
				own[u].active++
			}
		}
	}
	total := make([]unitCounts, len(ix.units))
	for u := range ix.units {
		for a := int32(u); a >= 0; a = ix.units[a].parent {
			total[a].eligible += own[u].eligible
			total[a].equipped += own[u].equipped
			total[a].active += own[u].active
			total[a].spare += own[u].spare
		}
	}
	return total
}

// TestRunAndReload runs the engine's loop: it loads at once, keeps up
// with the feed, and Reload swaps in a fresh index without losing what
// changed meanwhile.
func TestRunAndReload(t *testing.T) {
	w := oneStation(t)
	w.officer("o1", longAgo, eligibleState("s"))
	c := NewCoverage(w.src, CoverageConfig{Now: func() time.Time { return at(reportDay) }, RefreshEvery: time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	loaded := func() int {
		w.src.mu.Lock()
		defer w.src.mu.Unlock()
		return w.src.loads
	}
	for loaded() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	w.officer("o2", longAgo, eligibleState("s"))
	// Run reads the feed by itself; wait until it has.
	for time.Now().Before(deadline) {
		c.mu.RLock()
		n := len(c.ix.officers)
		c.mu.RUnlock()
		if n == 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := c.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	w.officer("o3", longAgo, eligibleState("s"))
	if r := w.report(c, "p", reportDay); r.Eligible != 3 {
		t.Errorf("eligible %d after a reload and a change, want 3", r.Eligible)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if n := loaded(); n < 2 {
		t.Errorf("%d loads, want the first and the reload", n)
	}
}
