package fleet

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDateJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{`"2026-12-31"`, "2026-12-31", false},
		{`null`, "", false},
		{`""`, "", false},
		{`"2026-02-30"`, "", true},
		{`"31/12/2026"`, "", true},
		{`20261231`, "", true},
		{`"2026-12-31T00:00:00Z"`, "", true},
	}
	for _, tt := range tests {
		var d Date
		err := json.Unmarshal([]byte(tt.in), &d)
		if (err != nil) != tt.wantErr {
			t.Errorf("Unmarshal(%s) err = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if d.String() != tt.want {
			t.Errorf("Unmarshal(%s) = %q, want %q", tt.in, d, tt.want)
		}
	}
	b, _ := json.Marshal(struct{ D Date }{NewDate(2026, 1, 2)})
	if string(b) != `{"D":"2026-01-02"}` {
		t.Errorf("Marshal = %s", b)
	}
}

func TestDateZone(t *testing.T) {
	// 2026-12-31 17:00 UTC is already 2027-01-01 in China.
	at := time.Date(2026, 12, 31, 17, 0, 0, 0, time.UTC)
	if got := DateOf(at).String(); got != "2027-01-01" {
		t.Errorf("DateOf = %s, want 2027-01-01", got)
	}
	d := NewDate(2026, 12, 31)
	if !d.End().Equal(time.Date(2026, 12, 31, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("End = %s", d.End().UTC())
	}
	if got := d.AddDays(1).String(); got != "2027-01-01" {
		t.Errorf("AddDays = %s", got)
	}
	if NewDate(1900, 1, 1).InRange() || !d.InRange() {
		t.Errorf("InRange wrong")
	}
}
