package fleet

import (
	"fmt"
	"time"
)

// RetentionPolicy says how long evidence is kept, per category. The
// longest applicable period wins: footage linked to a case is kept at
// least as long as any footage, and until the case closes plus CaseYears;
// permanent footage and footage under a legal hold are never deleted by
// retention.
type RetentionPolicy struct {
	// NoIncidentDays keeps every recording at least this long after it
	// started (default 180; the rules say at least six months, so less
	// than MinNoIncidentDays is refused).
	NoIncidentDays int
	// CaseYears keeps case footage this long after the case closes
	// (default 5).
	CaseYears int
}

// Retention defaults and floor.
const (
	DefaultNoIncidentDays = 180
	MinNoIncidentDays     = 180
	DefaultCaseYears      = 5
)

// WithDefaults fills zero fields and checks the floor.
func (p RetentionPolicy) WithDefaults() (RetentionPolicy, error) {
	if p.NoIncidentDays == 0 {
		p.NoIncidentDays = DefaultNoIncidentDays
	}
	if p.CaseYears == 0 {
		p.CaseYears = DefaultCaseYears
	}
	if p.NoIncidentDays < MinNoIncidentDays {
		return p, fmt.Errorf("retention: no-incident footage must be kept at least %d days, not %d", MinNoIncidentDays, p.NoIncidentDays)
	}
	if p.CaseYears < 0 {
		return p, fmt.Errorf("retention: case years %d is negative", p.CaseYears)
	}
	return p, nil
}

// RetainUntil is when retention may delete it: nil means never (for now:
// permanent, or a case not yet closed). The hold is not part of it: a
// held item keeps its date and is skipped while held.
func (p RetentionPolicy) RetainUntil(it EvidenceItem) *time.Time {
	base := it.StartAt.AddDate(0, 0, p.NoIncidentDays)
	switch it.Category {
	case CategoryPermanent:
		return nil
	case CategoryCase:
		if it.CaseClosedAt == nil {
			return nil
		}
		if c := it.CaseClosedAt.AddDate(p.CaseYears, 0, 0); c.After(base) {
			base = c
		}
	}
	base = base.UTC()
	return &base
}

// Due reports whether retention deletes it at now.
func (p RetentionPolicy) Due(it EvidenceItem, now time.Time) bool {
	if it.DeletedAt != nil || it.LegalHold {
		return false
	}
	until := p.RetainUntil(it)
	return until != nil && !now.Before(*until)
}
