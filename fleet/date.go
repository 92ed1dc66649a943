package fleet

import (
	"encoding/json"
	"fmt"
	"time"
)

// Zone is the civil time zone of the agencies: China Standard Time has no
// daylight saving, so a fixed offset is exact and needs no tzdata.
var Zone = time.FixedZone("CST", 8*60*60)

// Date is a civil date (YYYY-MM-DD) in Zone. The zero Date means "not set".
// Dates compare as strings, so they are stored as TEXT in every store.
type Date struct{ y, m, d int }

// Earliest and latest dates accepted from users: anything outside is a typo.
var (
	MinDate = Date{1949, 10, 1}
	MaxDate = Date{2100, 12, 31}
)

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.ParseInLocation(time.DateOnly, s, Zone)
	if err != nil {
		return Date{}, fmt.Errorf("date %q is not YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// DateOf returns the civil date of t in Zone.
func DateOf(t time.Time) Date {
	y, m, d := t.In(Zone).Date()
	return Date{y, int(m), d}
}

func NewDate(y int, m time.Month, d int) Date {
	return DateOf(time.Date(y, m, d, 12, 0, 0, 0, Zone))
}

func (d Date) IsZero() bool { return d == Date{} }

func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.y, d.m, d.d)
}

// Start is the first instant of d; End the first instant of the next day.
// "State at date d" means the state in force at the end of that day.
func (d Date) Start() time.Time { return time.Date(d.y, time.Month(d.m), d.d, 0, 0, 0, 0, Zone) }
func (d Date) End() time.Time   { return d.AddDays(1).Start() }

func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.y, time.Month(d.m), d.d+n, 12, 0, 0, 0, Zone))
}

func (d Date) Before(o Date) bool { return d.String() < o.String() }
func (d Date) After(o Date) bool  { return d.String() > o.String() }

// InRange reports whether d lies within MinDate..MaxDate.
func (d Date) InRange() bool { return !d.Before(MinDate) && !d.After(MaxDate) }

func (d Date) Year() int         { return d.y }
func (d Date) Month() time.Month { return time.Month(d.m) }
func (d Date) Day() int          { return d.d }

func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(d.String())
}

func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("date must be a string YYYY-MM-DD")
	}
	if s == "" {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
