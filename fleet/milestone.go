package fleet

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// The policy's path to its target is set per province as year-end
// milestones: by default a straight line from the province's allocation
// rate on the day its plan was published to 100% at the deadline, with
// each year-end point editable. The line between the points is
// piecewise linear, so that "behind" has an answer on any day.

// Defaults of the plan: the Hubei three-year plan (2024-2026) was published
// on 28 May 2024, and its target falls on 31 December 2026.
var (
	DefaultPlanStart = Date{2024, 5, 28}
	DefaultDeadline  = Date{2026, 12, 31}
)

// MilestonePlan is what a province has edited of its plan; zero values
// take the engine's defaults. It is stored per province.
type MilestonePlan struct {
	ProvinceID string       `json:"province_id"`
	PlanStart  Date         `json:"plan_start"` // zero: the engine's default
	StartRate  *float64     `json:"start_rate"` // nil: measured from the register at PlanStart
	Targets    []YearTarget `json:"targets"`    // edited year-end targets; the other years stay on the default line
	UpdatedAt  time.Time    `json:"updated_at"`
	UpdatedBy  string       `json:"updated_by"`
}

// YearTarget is the allocation rate (0..1) a province means to reach by
// 31 December of Year.
type YearTarget struct {
	Year int     `json:"year"`
	Rate float64 `json:"rate"`
}

// MilestoneInput replaces a province's edits: targets left out go back to
// the default line, a null start_rate to the measured one, a missing
// plan_start to the default.
type MilestoneInput struct {
	PlanStart Date         `json:"plan_start"`
	StartRate *float64     `json:"start_rate"`
	Targets   []YearTarget `json:"targets"`
}

// Milestones is a province's plan as it applies: every point of the line.
type Milestones struct {
	Province     CoverageUnit      `json:"province"`
	PlanStart    Date              `json:"plan_start"`
	Deadline     Date              `json:"deadline"`
	StartRate    float64           `json:"start_rate"`
	StartRateSet bool              `json:"start_rate_set"` // false: measured at plan_start (0 when nobody was eligible then)
	Targets      []MilestoneTarget `json:"targets"`
	UpdatedAt    *time.Time        `json:"updated_at"`
	UpdatedBy    string            `json:"updated_by,omitempty"`
}

// MilestoneTarget is one year-end point of the line.
type MilestoneTarget struct {
	Year int     `json:"year"`
	On   Date    `json:"on"`
	Rate float64 `json:"rate"`
	Set  bool    `json:"set"` // false: on the default line
}

// milestoneLine is the piecewise-linear target from the plan start to the
// deadline: null before the start, 1 from the deadline on.
type milestoneLine struct {
	days  []day
	rates []float64
}

func (l milestoneLine) at(t day) *float64 {
	if len(l.days) == 0 || t < l.days[0] {
		return nil
	}
	last := len(l.days) - 1
	if t >= l.days[last] {
		return ptr(l.rates[last])
	}
	i, _ := slices.BinarySearch(l.days, t+1) // first point after t
	d0, d1 := l.days[i-1], l.days[i]
	r := l.rates[i-1] + (l.rates[i]-l.rates[i-1])*float64(t-d0)/float64(d1-d0)
	return ptr(round4(r))
}

func ptr[T any](v T) *T { return &v }

// round4 keeps four decimals (0.01%): a target finer than that is noise,
// and it keeps 0.30000000000000004 out of the answers.
func round4(x float64) float64 { return math.Round(x*10_000) / 10_000 }

// planYears are the years whose year-end point lies on the line: every
// 31 December after start up to the deadline, and the deadline itself.
func planYears(start, deadline Date) []Date {
	var ends []Date
	for y := start.Year(); y <= deadline.Year(); y++ {
		end := NewDate(y, time.December, 31)
		if y == deadline.Year() {
			end = deadline
		}
		if end.After(start) && !end.After(deadline) {
			ends = append(ends, end)
		}
	}
	return ends
}

// buildLine lays out the plan: measured is the province's rate at the
// plan start (nil when nobody was eligible then, taken as 0: the plan
// raises the rate from nothing).
func buildLine(p MilestonePlan, start, deadline Date, measured *float64) (milestoneLine, Milestones) {
	r0 := 0.0
	if measured != nil {
		r0 = *measured
	}
	m := Milestones{PlanStart: start, Deadline: deadline}
	if p.StartRate != nil {
		r0, m.StartRateSet = *p.StartRate, true
	}
	m.StartRate = round4(r0)
	if !p.UpdatedAt.IsZero() {
		m.UpdatedAt, m.UpdatedBy = ptr(p.UpdatedAt), p.UpdatedBy
	}
	s, e := dayOf(start), dayOf(deadline)
	line := milestoneLine{days: []day{s}, rates: []float64{r0}}
	for _, end := range planYears(start, deadline) {
		d := dayOf(end)
		t := MilestoneTarget{Year: end.Year(), On: end, Rate: round4(r0 + (1-r0)*float64(d-s)/float64(e-s))}
		if end == deadline {
			t.Rate = 1 // the policy's target, not a province's choice
		} else if i := slices.IndexFunc(p.Targets, func(y YearTarget) bool { return y.Year == end.Year() }); i >= 0 {
			t.Rate, t.Set = p.Targets[i].Rate, true
		}
		m.Targets = append(m.Targets, t)
		line.days, line.rates = append(line.days, d), append(line.rates, t.Rate)
	}
	return line, m
}

// validate checks an edit of a province's plan made on day today.
func (in *MilestoneInput) validate(today, defaultStart, deadline Date) error {
	start := in.PlanStart
	if start.IsZero() {
		start = defaultStart
	} else if err := checkDate("plan_start", start, true); err != nil {
		return err
	}
	if !start.Before(deadline) {
		return Invalid("plan_start", "plan_start must be before the deadline %s", deadline)
	}
	if start.After(today) {
		return Invalid("plan_start", "plan_start %s is in the future", start)
	}
	rateOK := func(r float64) bool { return !math.IsNaN(r) && r >= 0 && r <= 1 }
	if in.StartRate != nil && !rateOK(*in.StartRate) {
		return Invalid("start_rate", "start_rate must be a fraction from 0 to 1")
	}
	years := planYears(start, deadline)
	slices.SortFunc(in.Targets, func(a, b YearTarget) int { return a.Year - b.Year })
	prev, prevYear := -1.0, 0
	if in.StartRate != nil {
		prev = *in.StartRate
	}
	for i, t := range in.Targets {
		field := "targets"
		if !rateOK(t.Rate) {
			return Invalid(field, "the target for %d must be a fraction from 0 to 1", t.Year)
		}
		if !slices.ContainsFunc(years, func(d Date) bool { return d.Year() == t.Year }) {
			return Invalid(field, "%d is not a year of the plan (%s to %s)", t.Year, start, deadline)
		}
		if i > 0 && t.Year == in.Targets[i-1].Year {
			return Invalid(field, "the target for %d is given twice", t.Year)
		}
		if t.Year == deadline.Year() && t.Rate != 1 {
			return Invalid(field, "the target for %s is 100%% by policy", deadline)
		}
		if t.Rate < prev {
			what := "the start rate"
			if prevYear != 0 {
				what = "the target for " + strconv.Itoa(prevYear)
			}
			return Invalid(field, "the target for %d is below %s: the rate is raised year by year", t.Year, what)
		}
		prev, prevYear = t.Rate, t.Year
	}
	return nil
}
