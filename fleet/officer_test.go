package fleet

import "testing"

func TestIneligible(t *testing.T) {
	day := NewDate(2026, 6, 15)
	valid := Certificate{Number: "420100-0001", IssuedOn: NewDate(2022, 1, 1),
		ExpiresOn: NewDate(2027, 1, 1), AnnualReviewUntil: NewDate(2026, 12, 31), Status: CertValid}
	with := func(f func(*OfficerState)) OfficerState {
		s := OfficerState{UnitID: "u", Frontline: true, DutyStatus: OnDuty, Certificate: valid}
		f(&s)
		return s
	}
	tests := []struct {
		name  string
		state OfficerState
		want  string
	}{
		{"eligible", with(func(*OfficerState) {}), ""},
		{"not frontline", with(func(s *OfficerState) { s.Frontline = false }), ReasonNotFrontline},
		{"transferred out", with(func(s *OfficerState) { s.DutyStatus = TransferredOut }), ReasonTransferredOut},
		{"retired", with(func(s *OfficerState) { s.DutyStatus = Retired }), ReasonRetired},
		{"long leave", with(func(s *OfficerState) { s.DutyStatus = LongLeave }), ReasonLongLeave},
		{"no certificate", with(func(s *OfficerState) { s.Certificate = Certificate{} }), ReasonNoCertificate},
		{"suspended", with(func(s *OfficerState) { s.Certificate.Status = CertSuspended }), ReasonCertSuspended},
		{"revoked", with(func(s *OfficerState) { s.Certificate.Status = CertRevoked }), ReasonCertRevoked},
		{"expired", with(func(s *OfficerState) { s.Certificate.ExpiresOn = NewDate(2026, 6, 14) }), ReasonCertExpired},
		{"expires that day still valid", with(func(s *OfficerState) { s.Certificate.ExpiresOn = day }), ""},
		{"not yet issued", with(func(s *OfficerState) { s.Certificate.IssuedOn = NewDate(2026, 6, 16) }), ReasonNotYetIssued},
		{"review lapsed", with(func(s *OfficerState) { s.Certificate.AnnualReviewUntil = NewDate(2026, 6, 1) }), ReasonReviewLapsed},
		{"review missing", with(func(s *OfficerState) { s.Certificate.AnnualReviewUntil = Date{} }), ReasonReviewLapsed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.state.Ineligible(day); got != tt.want {
				t.Errorf("Ineligible(%s) = %q, want %q", day, got, tt.want)
			}
			if got := tt.state.Eligible(day); got != (tt.want == "") {
				t.Errorf("Eligible = %v", got)
			}
		})
	}
}

func TestStateAt(t *testing.T) {
	vs := []OfficerVersion{
		{EffectiveOn: NewDate(2024, 1, 1), OfficerState: OfficerState{DutyStatus: OnDuty}},
		{EffectiveOn: NewDate(2025, 3, 1), OfficerState: OfficerState{DutyStatus: LongLeave}},
		{EffectiveOn: NewDate(2025, 9, 1), OfficerState: OfficerState{DutyStatus: OnDuty}},
	}
	tests := []struct {
		at    Date
		found bool
		want  DutyStatus
	}{
		{NewDate(2023, 12, 31), false, ""},
		{NewDate(2024, 1, 1), true, OnDuty},
		{NewDate(2025, 2, 28), true, OnDuty},
		{NewDate(2025, 3, 1), true, LongLeave},
		{NewDate(2025, 8, 31), true, LongLeave},
		{NewDate(2026, 1, 1), true, OnDuty},
	}
	for _, tt := range tests {
		v, ok := StateAt(vs, tt.at)
		if ok != tt.found || v.DutyStatus != tt.want {
			t.Errorf("StateAt(%s) = %v,%v; want %v,%v", tt.at, v.DutyStatus, ok, tt.want, tt.found)
		}
	}
}
