package fleet

import (
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	codePattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$`)
	serialPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	badgePattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,31}$`)
	userPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$`)
	mmsiPattern   = regexp.MustCompile(`^[0-9]{9}$`)
)

// checkText validates a human-readable text: trimmed, 1..max runes when
// required, no control characters (they break exports and logs).
func checkText(field, s string, max int, required bool) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		if required {
			return "", Invalid(field, "%s is required", field)
		}
		return "", nil
	}
	if !utf8.ValidString(s) {
		return "", Invalid(field, "%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return "", Invalid(field, "%s is longer than %d characters", field, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", Invalid(field, "%s contains control characters", field)
		}
	}
	return s, nil
}

func checkPattern(field, s string, re *regexp.Regexp, what string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Invalid(field, "%s is required", field)
	}
	if !re.MatchString(s) {
		return "", Invalid(field, "%s must be %s", field, what)
	}
	return s, nil
}

func checkDate(field string, d Date, required bool) error {
	if d.IsZero() {
		if required {
			return Invalid(field, "%s is required", field)
		}
		return nil
	}
	if !d.InRange() {
		return Invalid(field, "%s %s is out of range %s..%s", field, d, MinDate, MaxDate)
	}
	return nil
}

func checkRTSPURL(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" || len(s) > 512 {
		return "", Invalid(field, "%s must be an rtsp:// or rtsps:// URL with a host", field)
	}
	return s, nil
}

// checkCertificate validates c; an empty Number means "no certificate" and
// then every other field must be empty too.
func checkCertificate(c *Certificate) error {
	c.Number = strings.TrimSpace(c.Number)
	if c.Number == "" {
		if !c.IssuedOn.IsZero() || !c.ExpiresOn.IsZero() || !c.AnnualReviewUntil.IsZero() {
			return Invalid("certificate.number", "certificate.number is required when certificate dates are given")
		}
		c.Status = ""
		return nil
	}
	if _, err := checkPattern("certificate.number", c.Number, badgePattern, "letters, digits or '-', at most 32"); err != nil {
		return err
	}
	if c.Status == "" {
		c.Status = CertValid
	}
	if !c.Status.Valid() {
		return Invalid("certificate.status", "certificate.status must be valid, suspended or revoked")
	}
	if err := checkDate("certificate.issued_on", c.IssuedOn, true); err != nil {
		return err
	}
	if err := checkDate("certificate.expires_on", c.ExpiresOn, true); err != nil {
		return err
	}
	if err := checkDate("certificate.annual_review_until", c.AnnualReviewUntil, false); err != nil {
		return err
	}
	if !c.ExpiresOn.After(c.IssuedOn) {
		return Invalid("certificate.expires_on", "certificate.expires_on must be after certificate.issued_on")
	}
	return nil
}
