package fleet

import "time"

// DutyStatus says whether an officer is at their post.
type DutyStatus string

const (
	OnDuty         DutyStatus = "on_duty"
	TransferredOut DutyStatus = "transferred_out" // 调离
	Retired        DutyStatus = "retired"
	LongLeave      DutyStatus = "long_leave"
)

func (s DutyStatus) Valid() bool {
	switch s {
	case OnDuty, TransferredOut, Retired, LongLeave:
		return true
	}
	return false
}

// CertStatus is the administrative state of an enforcement certificate (执法证).
type CertStatus string

const (
	CertValid     CertStatus = "valid"
	CertSuspended CertStatus = "suspended"
	CertRevoked   CertStatus = "revoked"
)

func (s CertStatus) Valid() bool {
	switch s {
	case CertValid, CertSuspended, CertRevoked:
		return true
	}
	return false
}

// Certificate is an officer's enforcement certificate. An officer without
// one has a zero Certificate (empty Number).
type Certificate struct {
	Number            string     `json:"number"`
	IssuedOn          Date       `json:"issued_on"`
	ExpiresOn         Date       `json:"expires_on"`
	AnnualReviewUntil Date       `json:"annual_review_until"`
	Status            CertStatus `json:"status"`
}

// OfficerState is everything about an officer that eligibility depends on.
// It is effective-dated: each change is an OfficerVersion in force from its
// EffectiveOn date until the next one, so past eligibility has an answer.
type OfficerState struct {
	UnitID      string      `json:"unit_id"`
	Frontline   bool        `json:"frontline"`
	DutyStatus  DutyStatus  `json:"duty_status"`
	Certificate Certificate `json:"certificate"`
}

// OfficerVersion is one entry of an officer's state history.
type OfficerVersion struct {
	OfficerID   string    `json:"officer_id"`
	EffectiveOn Date      `json:"effective_on"`
	RecordedAt  time.Time `json:"recorded_at"`
	RecordedBy  string    `json:"recorded_by"`
	OfficerState
}

// Officer is an enforcement officer (执法人员). The embedded state is the
// one in force today; history is in OfficerVersion rows.
type Officer struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	BadgeNo     string `json:"badge_no"`
	EffectiveOn Date   `json:"effective_on"`
	Version     int    `json:"version"`
	OfficerState
}

// Ineligibility reasons, in the order they are checked.
const (
	ReasonNotFrontline   = "not_frontline"
	ReasonTransferredOut = "transferred_out"
	ReasonRetired        = "retired"
	ReasonLongLeave      = "long_leave"
	ReasonNoCertificate  = "no_certificate"
	ReasonNotYetIssued   = "certificate_not_yet_issued"
	ReasonCertExpired    = "certificate_expired"
	ReasonCertSuspended  = "certificate_suspended"
	ReasonCertRevoked    = "certificate_revoked"
	ReasonReviewLapsed   = "annual_review_lapsed"
)

// Ineligible returns why an officer in state s is not eligible on day t
// (frontline, on duty, holding a certificate that is issued, unexpired,
// valid and with a current annual review), or "" when they are eligible.
func (s OfficerState) Ineligible(t Date) string {
	c := s.Certificate
	switch {
	case !s.Frontline:
		return ReasonNotFrontline
	case s.DutyStatus == TransferredOut:
		return ReasonTransferredOut
	case s.DutyStatus == Retired:
		return ReasonRetired
	case s.DutyStatus == LongLeave:
		return ReasonLongLeave
	case s.DutyStatus != OnDuty:
		return ReasonTransferredOut
	case c.Number == "":
		return ReasonNoCertificate
	case c.Status == CertSuspended:
		return ReasonCertSuspended
	case c.Status == CertRevoked:
		return ReasonCertRevoked
	case c.Status != CertValid:
		return ReasonCertRevoked
	case !c.IssuedOn.IsZero() && t.Before(c.IssuedOn):
		return ReasonNotYetIssued
	case c.ExpiresOn.IsZero() || t.After(c.ExpiresOn):
		return ReasonCertExpired
	case c.AnnualReviewUntil.IsZero() || t.After(c.AnnualReviewUntil):
		return ReasonReviewLapsed
	}
	return ""
}

// Eligible reports whether an officer in state s counts toward the
// allocation rate on day t.
func (s OfficerState) Eligible(t Date) bool { return s.Ineligible(t) == "" }

// StateAt returns the version in force on day t from versions sorted by
// EffectiveOn, and false if the officer did not exist yet.
func StateAt(versions []OfficerVersion, t Date) (OfficerVersion, bool) {
	var cur OfficerVersion
	found := false
	for _, v := range versions {
		if v.EffectiveOn.After(t) {
			break
		}
		cur, found = v, true
	}
	return cur, found
}
