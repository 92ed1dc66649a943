package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
)

// caseEnv is the vault env with an officer user bound to the recorder's
// officer (county A), a colleague at station A (under county A) and an
// officer of county B.
type caseEnv struct {
	*vaultEnv
	officerUser *client // 执法人员, officer v.officer, county A
	auditor     *client // 法制审核 at the city
	colleague   fleet.Officer
	officerB    fleet.Officer
}

func newCaseEnv(t *testing.T, db *sqlstore.DB) *caseEnv {
	t.Helper()
	v := newVaultEnv(t, db)
	ce := &caseEnv{vaultEnv: v}
	v.admin.mustDo(t, http.MethodPost, "/api/v1/officers", officerIn(v.org.stationA.ID, "李娜", "420102"), http.StatusCreated, &ce.colleague)
	v.admin.mustDo(t, http.MethodPost, "/api/v1/officers", officerIn(v.org.countyB.ID, "王强", "420201"), http.StatusCreated, &ce.officerB)
	const pw = "password-123"
	v.admin.mustDo(t, http.MethodPost, "/api/v1/users", fleet.UserInput{Username: "zhangwei", Password: pw, Name: "张伟",
		Role: fleet.RoleOfficer, UnitID: v.org.countyA.ID, OfficerID: v.officer.ID}, http.StatusCreated, nil)
	ce.officerUser = v.login(t, "zhangwei", pw)
	ce.auditor = v.user(t, v.admin, "auditor1", fleet.RoleAuditor, v.org.city.ID)
	return ce
}

// record uploads a recording of the checked-out recorder for [start, end]
// (offsets from testNow) and returns its item.
func (ce *caseEnv) record(t *testing.T, name string, start, end time.Duration) fleet.EvidenceItem {
	t.Helper()
	o := ce.openOffload(t)
	body, sum := randomFile(t, 4096)
	h := fileHeaders(sum)
	h[HeaderRecordedStart] = testNow.Add(start).Format(time.RFC3339)
	h[HeaderRecordedEnd] = testNow.Add(end).Format(time.RFC3339)
	r := ce.fromStation(t, http.MethodPut, "/api/v1/dock/offloads/"+o.ID+"/files/"+name, body, h)
	if r.status != http.StatusCreated {
		t.Fatalf("upload %s: %d %s", name, r.status, r.body)
	}
	var us UploadStatus
	mustJSON(t, r.body, &us)
	return *us.Item
}

func (ce *caseEnv) openCase(t *testing.T, c *client, number, unitID string, opened time.Time) fleet.EnforcementCase {
	t.Helper()
	var cs fleet.EnforcementCase
	c.mustDo(t, http.MethodPost, "/api/v1/cases", fleet.CaseInput{Number: number, UnitID: unitID, OpenedAt: opened},
		http.StatusCreated, &cs)
	return cs
}

func (ce *caseEnv) node(t *testing.T, c *client, caseID string, kind fleet.NodeKind, officerID string, start, end time.Duration) fleet.CaseNode {
	t.Helper()
	in := fleet.CaseNodeInput{Kind: kind, StartAt: testNow.Add(start), OfficerID: officerID}
	if end != 0 {
		e := testNow.Add(end)
		in.EndAt = &e
	}
	var n fleet.CaseNode
	c.mustDo(t, http.MethodPost, "/api/v1/cases/"+caseID+"/nodes", in, http.StatusCreated, &n)
	return n
}

func TestCaseMissingRecordsListsExactlyTheUncoveredNodes(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ce := newCaseEnv(t, db)
		off := ce.officerUser
		rec1 := ce.record(t, "VID_0001.mp4", 1*time.Hour, 2*time.Hour)
		rec2 := ce.record(t, "VID_0002.mp4", 70*time.Minute, 80*time.Minute)

		c1 := ce.openCase(t, off, "鄂交执罚〔2026〕1号", ce.org.countyA.ID, testNow)
		// The officer's own node, during rec1: covered by the case-wide link.
		covered := ce.node(t, off, c1.ID, fleet.NodeInspection, "", 65*time.Minute, 75*time.Minute)
		// The officer's node when nothing was recording: missing.
		gap := ce.node(t, off, c1.ID, fleet.NodeEvidenceCollection, ce.officer.ID, 150*time.Minute, 160*time.Minute)
		// The colleague's node, filmed by this recorder and linked to it: covered.
		linked := ce.node(t, off, c1.ID, fleet.NodeNotification, ce.colleague.ID, 72*time.Minute, 78*time.Minute)
		// The colleague's node during rec1, which is not theirs nor linked to it: missing.
		other := ce.node(t, off, c1.ID, fleet.NodeDecision, ce.colleague.ID, 90*time.Minute, 0)

		off.mustDo(t, http.MethodPost, "/api/v1/cases/"+c1.ID+"/links", fleet.CaseLinkInput{ItemID: rec1.ID, Reason: "现场检查"}, http.StatusCreated, nil)
		off.mustDo(t, http.MethodPost, "/api/v1/cases/"+c1.ID+"/links", fleet.CaseLinkInput{ItemID: rec2.ID, NodeID: linked.ID}, http.StatusCreated, nil)
		// A node of another case cannot take the link; the same link twice is a conflict.
		off.mustFail(t, http.MethodPost, "/api/v1/cases/"+c1.ID+"/links", fleet.CaseLinkInput{ItemID: rec2.ID, NodeID: linked.ID}, http.StatusConflict)

		// A case of county B, with a node and no footage at all.
		c2 := ce.openCase(t, ce.admin, "鄂交执罚〔2026〕2号", ce.org.countyB.ID, testNow)
		far := ce.node(t, ce.admin, c2.ID, fleet.NodeService, ce.officerB.ID, 30*time.Minute, 40*time.Minute)

		var f CaseFileBody
		off.mustDo(t, http.MethodGet, "/api/v1/cases/"+c1.ID, nil, http.StatusOK, &f)
		if len(f.Nodes) != 4 || len(f.Links) != 2 {
			t.Fatalf("case file: %d nodes, %d links", len(f.Nodes), len(f.Links))
		}
		_ = covered

		tests := []struct {
			name, unit string
			want       []string
			cases      int
		}{
			{"county A", ce.org.countyA.ID, []string{gap.ID, other.ID}, 1},
			{"city", ce.org.city.ID, []string{gap.ID, other.ID, far.ID}, 2},
			{"county B", ce.org.countyB.ID, []string{far.ID}, 1},
			{"station A (no cases)", ce.org.stationA.ID, nil, 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var rep fleet.MissingRecordsReport
				ce.auditor.mustDo(t, http.MethodGet, "/api/v1/cases/missing-records?unit="+tc.unit, nil, http.StatusOK, &rep)
				var got []string
				for _, m := range rep.Missing {
					got = append(got, m.Node.ID)
				}
				slices.Sort(got)
				want := slices.Clone(tc.want)
				slices.Sort(want)
				if !slices.Equal(got, want) || rep.CasesChecked != tc.cases {
					t.Errorf("missing = %v (cases %d), want %v (cases %d)", got, rep.CasesChecked, want, tc.cases)
				}
			})
		}

		// A window on node times narrows the report.
		var rep fleet.MissingRecordsReport
		from := url.QueryEscape(testNow.Add(2 * time.Hour).Format(time.RFC3339))
		ce.auditor.mustDo(t, http.MethodGet, "/api/v1/cases/missing-records?unit="+ce.org.city.ID+"&from="+from, nil, http.StatusOK, &rep)
		if len(rep.Missing) != 1 || rep.Missing[0].Node.ID != gap.ID {
			t.Errorf("from %s: %+v", from, rep.Missing)
		}

		// Who may: officers do not run reports; equipment managers have no cases.
		off.mustFail(t, http.MethodGet, "/api/v1/cases/missing-records", nil, http.StatusForbidden)
		em := ce.user(t, ce.admin, "em1", fleet.RoleEquipmentManager, ce.org.city.ID)
		em.mustFail(t, http.MethodGet, "/api/v1/cases", nil, http.StatusForbidden)
		em.mustFail(t, http.MethodPost, "/api/v1/cases", fleet.CaseInput{Number: "x", UnitID: ce.org.countyA.ID, OpenedAt: testNow}, http.StatusForbidden)
		// An officer of county A neither sees nor writes county B's case.
		off.mustFail(t, http.MethodGet, "/api/v1/cases/"+c2.ID, nil, http.StatusNotFound)
		off.mustFail(t, http.MethodPost, "/api/v1/cases", fleet.CaseInput{Number: "x", UnitID: ce.org.countyB.ID, OpenedAt: testNow}, http.StatusBadRequest)
		// A case number is unique.
		if d := off.mustFail(t, http.MethodPost, "/api/v1/cases", fleet.CaseInput{Number: c1.Number, UnitID: ce.org.countyA.ID, OpenedAt: testNow}, http.StatusConflict); d.Field != "number" {
			t.Errorf("duplicate number: %+v", d)
		}
	})
}

// CaseFileBody decodes GET /cases/{id}.
type CaseFileBody = fleet.CaseFile

func TestCaseLinkBlocksDeletionUntilCloseAndSetsRetention(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ce := newCaseEnv(t, db)
		rec := ce.record(t, "VID_0001.mp4", 1*time.Hour, 2*time.Hour)
		if rec.Category != fleet.CategoryNoIncident || rec.RetainUntil == nil {
			t.Fatalf("ingested item: %+v", rec)
		}
		c := ce.openCase(t, ce.officerUser, "鄂交执罚〔2026〕7号", ce.org.countyA.ID, testNow)

		// Officers link only their own recordings.
		var other fleet.Officer
		ce.admin.mustDo(t, http.MethodPost, "/api/v1/officers", officerIn(ce.org.countyA.ID, "赵敏", "420103"), http.StatusCreated, &other)
		ce.admin.mustDo(t, http.MethodPost, "/api/v1/users", fleet.UserInput{Username: "zhaomin", Password: "password-123",
			Name: "赵敏", Role: fleet.RoleOfficer, UnitID: ce.org.countyA.ID, OfficerID: other.ID}, http.StatusCreated, nil)
		stranger := ce.login(t, "zhaomin", "password-123")
		stranger.mustFail(t, http.MethodPost, "/api/v1/cases/"+c.ID+"/links", fleet.CaseLinkInput{ItemID: rec.ID}, http.StatusForbidden)

		var res CaseLinkResult
		ce.officerUser.mustDo(t, http.MethodPost, "/api/v1/cases/"+c.ID+"/links", fleet.CaseLinkInput{ItemID: rec.ID, Reason: "取证"}, http.StatusCreated, &res)
		it := res.Item
		if it.Category != fleet.CategoryCase || it.CaseNumber != c.Number || it.RetainUntil != nil || it.CaseClosedAt != nil {
			t.Fatalf("linked item: %+v", it)
		}
		// While the case is open, nobody deletes its footage.
		ce.admin.mustFail(t, http.MethodDelete, "/api/v1/evidence/"+rec.ID, ReasonRequest{Reason: "清理"}, http.StatusConflict)
		// Another case cannot take it.
		c2 := ce.openCase(t, ce.officerUser, "鄂交执罚〔2026〕8号", ce.org.countyA.ID, testNow)
		ce.officerUser.mustFail(t, http.MethodPost, "/api/v1/cases/"+c2.ID+"/links", fleet.CaseLinkInput{ItemID: rec.ID}, http.StatusConflict)

		// Closing starts the clock: the close date plus the policy's years.
		closed := testNow.Add(150 * time.Minute).UTC()
		var cs fleet.EnforcementCase
		ce.officerUser.mustDo(t, http.MethodPost, "/api/v1/cases/"+c.ID+"/close", fleet.CloseInput{ClosedAt: &closed, Reason: "结案"}, http.StatusOK, &cs)
		if cs.Status != fleet.CaseClosed || cs.ClosedAt == nil || !cs.ClosedAt.Equal(closed) {
			t.Fatalf("closed case: %+v", cs)
		}
		ce.officerUser.mustFail(t, http.MethodPost, "/api/v1/cases/"+c.ID+"/close", nil, http.StatusConflict)
		ce.officerUser.mustFail(t, http.MethodPost, "/api/v1/cases/"+c.ID+"/nodes",
			fleet.CaseNodeInput{Kind: fleet.NodeService, StartAt: testNow}, http.StatusConflict)

		var after fleet.EvidenceItem
		ce.auditor.mustDo(t, http.MethodGet, "/api/v1/evidence/"+rec.ID+"?reason=check", nil, http.StatusOK, &after)
		want := closed.AddDate(ce.vault.Policy().CaseYears, 0, 0)
		if after.RetainUntil == nil || !after.RetainUntil.Equal(want) || after.CaseClosedAt == nil || !after.CaseClosedAt.Equal(closed) {
			t.Fatalf("after close: retain_until %v, case_closed_at %v; want %v", after.RetainUntil, after.CaseClosedAt, want)
		}
		var rep CustodyReport
		ce.auditor.mustDo(t, http.MethodGet, "/api/v1/evidence/"+rec.ID+"/custody", nil, http.StatusOK, &rep)
		var actions []string
		for _, e := range rep.Entries {
			actions = append(actions, string(e.Action))
		}
		if !slices.Equal(actions, []string{"ingest", "classify", "classify", "view"}) {
			t.Errorf("custody = %v", actions)
		}
		// Closed: an administrator's written decision may delete it now.
		ce.admin.mustDo(t, http.MethodDelete, "/api/v1/evidence/"+rec.ID, ReasonRequest{Reason: "经批准删除"}, http.StatusOK, nil)
	})
}

func TestCaseReviewSample(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ce := newCaseEnv(t, db)
		n := 0
		mk := func(unitID string, opened, closed time.Time) fleet.EnforcementCase {
			n++
			c := ce.openCase(t, ce.admin, fmt.Sprintf("鄂交执罚〔%d〕%03d号", opened.Year(), n), unitID, opened)
			if !closed.IsZero() {
				ce.admin.mustDo(t, http.MethodPost, "/api/v1/cases/"+c.ID+"/close", fleet.CloseInput{ClosedAt: &closed}, http.StatusOK, nil)
			}
			return c
		}
		opened := time.Date(2026, 1, 10, 9, 0, 0, 0, fleet.Zone)
		closed := time.Date(2026, 3, 1, 9, 0, 0, 0, fleet.Zone)
		for range 10 {
			mk(ce.org.countyA.ID, opened, closed)
		}
		for range 3 {
			mk(ce.org.stationA.ID, opened, closed)
		}
		for range 7 {
			mk(ce.org.countyB.ID, opened, closed)
		}
		// Not of 2026's closed cases: closed in 2025, still open.
		mk(ce.org.countyA.ID, time.Date(2025, 3, 1, 9, 0, 0, 0, fleet.Zone), time.Date(2025, 12, 31, 23, 0, 0, 0, fleet.Zone))
		mk(ce.org.countyA.ID, opened, time.Time{})

		sample := func(unit string, percent int) fleet.ReviewSample {
			t.Helper()
			q := "/api/v1/cases/review-sample?year=2026&unit=" + unit
			if percent != 0 {
				q += "&percent=" + strconv.Itoa(percent)
			}
			var s fleet.ReviewSample
			ce.auditor.mustDo(t, http.MethodGet, q, nil, http.StatusOK, &s)
			return s
		}
		numbers := func(s fleet.ReviewSample, stratum string) []string {
			var out []string
			for _, c := range s.Cases {
				if stratum == "" || c.StratumUnitID == stratum {
					out = append(out, c.Number)
				}
			}
			return out
		}

		tests := []struct {
			name    string
			unit    string
			percent int
			total   int
			strata  map[string]int // stratum → cases in it
		}{
			{"city, default 10%", ce.org.city.ID, 0, 20, map[string]int{ce.org.countyA.ID: 13, ce.org.countyB.ID: 7}},
			{"county A: itself and its station", ce.org.countyA.ID, 0, 13, map[string]int{ce.org.countyA.ID: 10, ce.org.stationA.ID: 3}},
			{"city, 30%", ce.org.city.ID, 30, 20, map[string]int{ce.org.countyA.ID: 13, ce.org.countyB.ID: 7}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := sample(tc.unit, tc.percent)
				pct := max(tc.percent, fleet.DefaultReviewPercent)
				if s.TotalCases != tc.total || s.Percent != pct {
					t.Fatalf("total %d percent %d, want %d %d", s.TotalCases, s.Percent, tc.total, pct)
				}
				if len(s.Cases)*100 < pct*s.TotalCases {
					t.Errorf("sampled %d of %d: under %d%%", len(s.Cases), s.TotalCases, pct)
				}
				if len(s.Strata) != len(tc.strata) {
					t.Errorf("strata = %+v", s.Strata)
				}
				for _, st := range s.Strata {
					got := len(numbers(s, st.UnitID))
					if st.Cases != tc.strata[st.UnitID] || got == 0 || got != st.Sampled || got*100 < pct*st.Cases {
						t.Errorf("stratum %s: %+v, %d drawn", st.UnitID, st, got)
					}
				}
				if again := sample(tc.unit, tc.percent); !slices.Equal(numbers(again, ""), numbers(s, "")) || again.Seed != s.Seed {
					t.Errorf("not reproducible: %v then %v", numbers(s, ""), numbers(again, ""))
				}
			})
		}

		// A case added elsewhere does not change which of county A's
		// cases are drawn: the draw depends on the seed and the case only.
		before := numbers(sample(ce.org.city.ID, 0), ce.org.countyA.ID)
		mk(ce.org.countyB.ID, opened, closed)
		if after := numbers(sample(ce.org.city.ID, 0), ce.org.countyA.ID); !slices.Equal(before, after) {
			t.Errorf("county A's draw moved: %v then %v", before, after)
		}

		ce.auditor.mustFail(t, http.MethodGet, "/api/v1/cases/review-sample?year=2026&percent=5&unit="+ce.org.city.ID, nil, http.StatusBadRequest)
		ce.auditor.mustFail(t, http.MethodGet, "/api/v1/cases/review-sample?unit="+ce.org.city.ID, nil, http.StatusBadRequest)
		ce.officerUser.mustFail(t, http.MethodGet, "/api/v1/cases/review-sample?year=2026", nil, http.StatusForbidden)
	})
}
