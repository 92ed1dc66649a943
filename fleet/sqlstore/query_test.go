package sqlstore

import (
	"strings"
	"testing"
)

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct {
		prefix, want string
		ok           bool
	}{
		{"/p/c1/", "/p/c10", true},
		{"/p/c_1/", "/p/c_10", true},
		{"/省/", "/省0", true},
		{"/\u7701", "/\u7702", true},
		{"a\ud7ff", "a\ue000", true},
		{"a\U0010FFFF", "", false},
		{"a\xff", "", false},
		{"", "", false},
	} {
		got, ok := prefixEnd(tc.prefix)
		if got != tc.want || ok != tc.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", tc.prefix, got, ok, tc.want, tc.ok)
		}
		if !ok {
			continue
		}
		// Everything under the prefix sorts below the end, bytewise.
		for _, s := range []string{tc.prefix, tc.prefix + "zz/", tc.prefix + "\U0010FFFF", tc.prefix + "~~"} {
			if !(s >= tc.prefix && s < got) {
				t.Errorf("%q is under %q but not in [%q, %q)", s, tc.prefix, tc.prefix, got)
			}
		}
	}
}

func TestEscapeLike(t *testing.T) {
	for in, want := range map[string]string{
		"plain":   "plain",
		"100%":    `100\%`,
		"a_b":     `a\_b`,
		`back\`:   `back\\`,
		`%_\`:     `\%\_\\`,
		"'; DROP": "'; DROP",
	} {
		if got := escapeLike(in); got != want {
			t.Errorf("escapeLike(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSQLiteURI(t *testing.T) {
	for _, tc := range []struct {
		dsn, want string
		err       bool
	}{
		{"/var/lib/fleet/fleet.db", "file:/var/lib/fleet/fleet.db?", false},
		{"sqlite:/var/lib/fleet.db", "file:/var/lib/fleet.db?", false},
		{"data/fleet.db", "file:data/fleet.db?", false},
		{"/tmp/odd?name#1%.db", "file:/tmp/odd%3fname%231%25.db?", false},
		{"file:/tmp/f.db", "file:/tmp/f.db?", false},
		{"file:/tmp/f.db?cache=private", "file:/tmp/f.db?cache=private&", false},
		{"", "", true},
		{":memory:", "", true},
		{"sqlite::memory:", "", true},
		{"file::memory:?cache=shared", "", true},
		{"file:x.db?mode=memory", "", true},
	} {
		got, err := sqliteURI(tc.dsn)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("sqliteURI(%q) = %q, %v; want %q, error %v", tc.dsn, got, err, tc.want, tc.err)
		}
	}
}

func TestSQLiteUniqueColumns(t *testing.T) {
	for msg, want := range map[string]string{
		"constraint failed: UNIQUE constraint failed: devices.serial (2067)":        "devices.serial",
		"UNIQUE constraint failed: device_checkins.device_id, device_checkins.day":  "device_checkins.device_id",
		"constraint failed: UNIQUE constraint failed: assignments.device_id (2067)": "assignments.device_id",
		"something else entirely": "",
		strings.Repeat("x", 10) + " UNIQUE constraint failed: users.username": "users.username",
	} {
		if got := sqliteUniqueColumns(msg); got != want {
			t.Errorf("sqliteUniqueColumns(%q) = %q, want %q", msg, got, want)
		}
	}
}
