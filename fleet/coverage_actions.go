package fleet

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// The lists an equipment manager acts on, for a unit's subtree on a day.
const (
	// ActionUnequipped: eligible officers without a recorder in service.
	ActionUnequipped = "unequipped"
	// ActionToTakeBack: recorders held by officers who are not eligible.
	ActionToTakeBack = "to_take_back"
	// ActionCertDue: eligible officers whose certificate expires or whose
	// annual review falls due within Days: they are about to drop out.
	ActionCertDue = "cert_due"
	// ActionNotSeen: recorders in service not heard from for Days.
	ActionNotSeen = "not_seen"
)

// Reasons an action list gives beyond the ineligibility reasons.
const (
	ReasonNoRecorder     = "no_recorder"
	ReasonUnknownOfficer = "unknown_officer" // the holder has no version in force on the day
	ReasonCertExpires    = "certificate_expires"
	ReasonReviewDue      = "annual_review_due"
	ReasonNotSeen        = "not_seen"
)

// MaxActionDays bounds the Days of a list: a year ahead or behind.
const MaxActionDays = 366

// ActionQuery asks for one list. Days is the horizon of cert_due (default
// 30) and the silence of not_seen (default the active window, 30).
type ActionQuery struct {
	UnitID string
	At     Date
	List   string
	Days   int
	Page
}

// ActionOfficer names an officer in a list.
type ActionOfficer struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	BadgeNo string `json:"badge_no"`
}

// ActionRecorder names a recorder in a list, with its status on the day.
type ActionRecorder struct {
	ID     string       `json:"id"`
	Serial string       `json:"serial"`
	Model  string       `json:"model"`
	Status DeviceStatus `json:"status"`
}

// CoverageAction is one line of a list. Unit is the officer's unit on the
// day for officer lists, and the recorder's for recorder lists: the unit
// whose manager acts.
type CoverageAction struct {
	Unit       CoverageUnit    `json:"unit"`
	Officer    *ActionOfficer  `json:"officer,omitempty"`
	Recorder   *ActionRecorder `json:"recorder,omitempty"`
	Reason     string          `json:"reason"`
	DueOn      Date            `json:"due_on,omitzero"`       // cert_due: the last day the officer is eligible
	DaysLeft   *int            `json:"days_left,omitempty"`   // cert_due: days from the report's day to due_on
	LastSeenOn Date            `json:"last_seen_on,omitzero"` // not_seen: the last check-in day, absent if never
	key        string
}

// ActionList is a page of a list.
type ActionList struct {
	List  string           `json:"list"`
	Unit  CoverageUnit     `json:"unit"`
	At    Date             `json:"at"`
	Days  int              `json:"days,omitempty"`
	Total int              `json:"total"`
	Items []CoverageAction `json:"items"`
	Next  *string          `json:"next"`
}

// Actions computes one list for a unit's subtree on q.At, sorted by unit
// (in the tree's order) and then badge number or serial, paged by q.Page.
func (c *Coverage) Actions(ctx context.Context, actor User, q ActionQuery) (ActionList, error) {
	switch q.List {
	case ActionUnequipped, ActionToTakeBack:
	case ActionCertDue, ActionNotSeen:
		if q.Days == 0 {
			q.Days = 30
			if q.List == ActionNotSeen {
				q.Days = c.cfg.ActiveDays
			}
		}
		if q.Days < 1 || q.Days > MaxActionDays {
			return ActionList{}, Invalid("days", "days must be from 1 to %d", MaxActionDays)
		}
	default:
		return ActionList{}, Invalid("list", "list must be %s, %s, %s or %s", ActionUnequipped, ActionToTakeBack, ActionCertDue, ActionNotSeen)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)

	v, err := c.begin(ctx, actor)
	if err != nil {
		return ActionList{}, err
	}
	defer v.end()
	u, err := v.unitFor(actor, q.UnitID)
	if err != nil {
		return ActionList{}, err
	}
	at, err := v.dayParam("at", q.At)
	if err != nil {
		return ActionList{}, err
	}
	s := v.snapshot(dayOf(at))
	var items []CoverageAction
	switch q.List {
	case ActionUnequipped:
		items = s.unequipped(u)
	case ActionToTakeBack:
		items = s.toTakeBack(u)
	case ActionCertDue:
		items = s.certDue(u, day(q.Days))
	case ActionNotSeen:
		items = s.notSeen(u, day(q.Days))
	}
	if q.List == ActionUnequipped || q.List == ActionToTakeBack {
		q.Days = 0
	}
	slices.SortFunc(items, func(a, b CoverageAction) int { return cmp.Compare(a.key, b.key) })
	l := ActionList{List: q.List, Unit: unitRefOf(&v.ix.units[u]), At: at, Days: q.Days, Total: len(items)}
	if q.After != "" {
		i, _ := slices.BinarySearchFunc(items, q.After, func(a CoverageAction, k string) int { return cmp.Compare(a.key, k+"\x00") })
		items = items[i:]
	}
	if len(items) > limit {
		items = items[:limit]
		l.Next = ptr(items[limit-1].key)
	}
	l.Items = items
	if l.Items == nil {
		l.Items = []CoverageAction{}
	}
	return l, nil
}

// daySnapshot is the state of every officer and recorder on one day.
type daySnapshot struct {
	ix     *covIndex
	t      day
	window day
	// ver is the version in force for each officer (-1: none yet).
	ver []int32
	// status and unit of each recorder at the end of the day (unit -1
	// and stUnknown before it was registered); holder -1 when not held.
	status []statusCode
	unit   []int32
	holder []int32
	// held lists the recorders each officer holds.
	held map[int32][]int32
}

func (v *view) snapshot(t day) *daySnapshot {
	ix := v.ix
	end := dayEndMs(t)
	s := &daySnapshot{ix: ix, t: t, window: day(v.c.cfg.ActiveDays), ver: make([]int32, len(ix.officers)),
		status: make([]statusCode, len(ix.recorders)), unit: make([]int32, len(ix.recorders)),
		holder: make([]int32, len(ix.recorders)), held: map[int32][]int32{}}
	for i := range ix.officers {
		s.ver[i] = int32(ix.officers[i].versionAt(t))
	}
	for i := range ix.recorders {
		r := &ix.recorders[i]
		s.unit[i], s.holder[i] = -1, -1
		ci := r.changeAt(end)
		if ci < 0 {
			continue
		}
		s.status[i], s.unit[i] = r.changes[ci].status, r.changes[ci].unit
		if h := r.holderAt(end); h >= 0 {
			s.holder[i] = h
			s.held[h] = append(s.held[h], int32(i))
		}
	}
	return s
}

// version returns the version of officer o in force, or nil.
func (s *daySnapshot) version(o int32) *cVersion {
	if s.ver[o] < 0 {
		return nil
	}
	return &s.ix.officers[o].vers[s.ver[o]]
}

// state returns the full state of officer o's version in force.
func (s *daySnapshot) state(o int32) *OfficerState {
	return &s.ix.officers[o].states[s.ver[o]]
}

func (s *daySnapshot) eligible(o int32) bool {
	v := s.version(o)
	return v != nil && v.unit >= 0 && s.t >= v.from && s.t <= v.until
}

func (s *daySnapshot) officerRef(o int32) *ActionOfficer {
	of := &s.ix.officers[o]
	return &ActionOfficer{ID: of.id, Name: of.name, BadgeNo: of.badge}
}

func (s *daySnapshot) recorderRef(r int32) *ActionRecorder {
	rc := &s.ix.recorders[r]
	return &ActionRecorder{ID: rc.id, Serial: rc.serial, Model: rc.model, Status: s.status[r].status()}
}

func (s *daySnapshot) key(unit int32, name string) string {
	return fmt.Sprintf("%08d/%s", s.ix.units[unit].tin, name)
}

func (s *daySnapshot) unequipped(scope int32) []CoverageAction {
	var out []CoverageAction
	for o := range s.ix.officers {
		o := int32(o)
		if !s.eligible(o) || !s.ix.within(s.version(o).unit, scope) {
			continue
		}
		a := CoverageAction{Reason: ReasonNoRecorder}
		equipped := false
		for _, r := range s.held[o] {
			if s.status[r].inService() {
				equipped = true
				break
			}
			// Holding only a recorder that is out of service: say which.
			a.Reason, a.Recorder = "recorder_"+string(s.status[r].status()), s.recorderRef(r)
		}
		if equipped {
			continue
		}
		u := s.version(o).unit
		a.Unit, a.Officer, a.key = unitRefOf(&s.ix.units[u]), s.officerRef(o), s.key(u, s.ix.officers[o].badge)
		out = append(out, a)
	}
	return out
}

func (s *daySnapshot) toTakeBack(scope int32) []CoverageAction {
	var out []CoverageAction
	for r := range s.ix.recorders {
		r := int32(r)
		h, u := s.holder[r], s.unit[r]
		if h < 0 || !s.ix.within(u, scope) || s.eligible(h) {
			continue
		}
		reason := ReasonUnknownOfficer
		if v := s.version(h); v != nil {
			if reason = s.state(h).Ineligible(dateOfDay(s.t)); reason == "" {
				reason = ReasonUnknownOfficer // eligible, but at a unit the register does not know
			}
		}
		out = append(out, CoverageAction{Unit: unitRefOf(&s.ix.units[u]), Officer: s.officerRef(h),
			Recorder: s.recorderRef(r), Reason: reason, key: s.key(u, s.ix.recorders[r].serial)})
	}
	return out
}

func (s *daySnapshot) certDue(scope int32, horizon day) []CoverageAction {
	var out []CoverageAction
	for o := range s.ix.officers {
		o := int32(o)
		if !s.eligible(o) {
			continue
		}
		v := s.version(o)
		if !s.ix.within(v.unit, scope) || v.until > s.t+horizon {
			continue
		}
		c := s.state(o).Certificate
		a := CoverageAction{Unit: unitRefOf(&s.ix.units[v.unit]), Officer: s.officerRef(o),
			Reason: ReasonReviewDue, DueOn: c.AnnualReviewUntil, DaysLeft: ptr(int(v.until - s.t)),
			key: s.key(v.unit, s.ix.officers[o].badge)}
		if !c.ExpiresOn.After(c.AnnualReviewUntil) {
			a.Reason, a.DueOn = ReasonCertExpires, c.ExpiresOn
		}
		out = append(out, a)
	}
	return out
}

func (s *daySnapshot) notSeen(scope int32, silence day) []CoverageAction {
	var out []CoverageAction
	for r := range s.ix.recorders {
		r := int32(r)
		u := s.unit[r]
		if !s.status[r].inService() || !s.ix.within(u, scope) {
			continue
		}
		rc := &s.ix.recorders[r]
		if rc.seen.anyIn(s.t-silence+1, s.t) {
			continue
		}
		a := CoverageAction{Unit: unitRefOf(&s.ix.units[u]), Recorder: s.recorderRef(r), Reason: ReasonNotSeen,
			key: s.key(u, rc.serial)}
		if d, ok := rc.seen.lastOnOrBefore(s.t); ok {
			a.LastSeenOn = dateOfDay(d)
		}
		if h := s.holder[r]; h >= 0 {
			a.Officer = s.officerRef(h)
		}
		out = append(out, a)
	}
	return out
}
