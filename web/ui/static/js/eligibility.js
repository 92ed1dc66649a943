// The eligibility rule of fleet.OfficerState.Ineligible, for badges in the browser. The server
// stays the authority (coverage is computed there); e2e_test.go checks that both agree.

// ineligible returns why an officer in state s is not eligible on day t (YYYY-MM-DD), or ''.
// s has the JSON shape of fleet.OfficerState: {frontline, duty_status, certificate:{…}}.
// Dates are YYYY-MM-DD strings, so they compare as strings, as in Go.
export function ineligible(s, t) {
  const c = s.certificate || {};
  if (!s.frontline) return 'not_frontline';
  switch (s.duty_status) {
    case 'on_duty':
      break;
    case 'retired':
      return 'retired';
    case 'long_leave':
      return 'long_leave';
    default: // transferred_out, and anything unknown
      return 'transferred_out';
  }
  if (!c.number) return 'no_certificate';
  if (c.status === 'suspended') return 'certificate_suspended';
  if (c.status !== 'valid') return 'certificate_revoked';
  if (c.issued_on && t < c.issued_on) return 'certificate_not_yet_issued';
  if (!c.expires_on || t > c.expires_on) return 'certificate_expired';
  if (!c.annual_review_until || t > c.annual_review_until) return 'annual_review_lapsed';
  return '';
}
