package fleet

import (
	"testing"
	"time"
)

func TestRetainUntil(t *testing.T) {
	p, err := RetentionPolicy{}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 10, 8, 0, 0, 0, time.UTC)
	early := start.AddDate(0, 1, 0) // case closed before the 180 days are up
	late := start.AddDate(1, 0, 0)
	day := func(y int, m time.Month, d int) *time.Time { t := time.Date(y, m, d, 8, 0, 0, 0, time.UTC); return &t }
	for _, tc := range []struct {
		name string
		it   EvidenceItem
		want *time.Time
	}{
		{"no incident", EvidenceItem{StartAt: start, Category: CategoryNoIncident}, day(2026, 7, 9)},
		{"open case", EvidenceItem{StartAt: start, Category: CategoryCase}, nil},
		{"case closed late", EvidenceItem{StartAt: start, Category: CategoryCase, CaseClosedAt: &late}, day(2032, 1, 10)},
		{"case closed early: case + 5 years still longest", EvidenceItem{StartAt: start, Category: CategoryCase, CaseClosedAt: &early}, day(2031, 2, 10)},
		{"permanent", EvidenceItem{StartAt: start, Category: CategoryPermanent}, nil},
	} {
		got := p.RetainUntil(tc.it)
		if (got == nil) != (tc.want == nil) || (got != nil && !got.Equal(*tc.want)) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	held := EvidenceItem{StartAt: start, Category: CategoryNoIncident, LegalHold: true}
	if p.Due(held, start.AddDate(5, 0, 0)) {
		t.Error("a held item is due")
	}
	if _, err := (RetentionPolicy{NoIncidentDays: 90}).WithDefaults(); err == nil {
		t.Error("a policy under six months was accepted")
	}
}

func TestCustodyChain(t *testing.T) {
	var log []CustodyEntry
	prev := GenesisHash
	for i, a := range []CustodyAction{CustodyIngest, CustodyView, CustodyDownload, CustodyHold} {
		e := CustodyEntry{Seq: int64(i + 1), ItemID: "evd_1", At: time.UnixMilli(int64(1e12 + i)), Action: a, ActorID: "u", Actor: "张三"}
		e.seal(prev)
		prev = e.EntryHash
		log = append(log, e)
	}
	check := func(l []CustodyEntry) []ChainBreak {
		c := newChainChecker()
		for _, e := range l {
			c.check(e)
		}
		return c.breaks
	}
	if b := check(log); len(b) != 0 {
		t.Fatalf("intact chain: %v", b)
	}
	altered := append([]CustodyEntry(nil), log...)
	altered[1].Reason = "changed"
	if b := check(altered); len(b) != 1 || b[0].Seq != 2 {
		t.Errorf("altered entry: %v", b)
	}
	resealed := append([]CustodyEntry(nil), log...)
	resealed[1].Reason = "changed"
	resealed[1].seal(resealed[1].PrevHash) // the forger recomputes its hash
	if b := check(resealed); len(b) != 1 || b[0].Seq != 3 {
		t.Errorf("resealed entry: %v", b)
	}
	removed := append(append([]CustodyEntry(nil), log[:1]...), log[2:]...)
	if b := check(removed); len(b) != 1 || b[0].Seq != 3 {
		t.Errorf("removed entry: %v", b)
	}
}
