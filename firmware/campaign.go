package firmware

import (
	"math"
	"time"
)

// CampaignState is where a campaign stands.
type CampaignState string

const (
	CampaignRunning   CampaignState = "running"
	CampaignPaused    CampaignState = "paused"    // a manager stopped new notifications
	CampaignHalted    CampaignState = "halted"    // the failure rate passed its maximum
	CampaignCancelled CampaignState = "cancelled" // for good; devices mid-install finish
	CampaignCompleted CampaignState = "completed"
)

// active reports whether the engine still looks after the campaign's jobs
// (timeouts, deferred retries when running).
func (s CampaignState) active() bool {
	return s == CampaignRunning || s == CampaignPaused || s == CampaignHalted
}

// JobState is where one device's update stands.
//
//	pending → notified → downloading → installing → done | failed
//	   ↘ deferred (recording, low battery, offline) → notified …
//	pending | deferred → cancelled (the campaign was cancelled)
type JobState string

const (
	JobPending     JobState = "pending"
	JobNotified    JobState = "notified"
	JobDownloading JobState = "downloading"
	JobInstalling  JobState = "installing"
	JobDone        JobState = "done"
	JobFailed      JobState = "failed"
	JobDeferred    JobState = "deferred"
	JobCancelled   JobState = "cancelled"
)

// Terminal reports whether the job is over.
func (s JobState) Terminal() bool { return s == JobDone || s == JobFailed || s == JobCancelled }

// inFlight reports whether the device has been told and not yet finished.
func (s JobState) inFlight() bool {
	return s == JobNotified || s == JobDownloading || s == JobInstalling
}

// DefaultWaves are the cumulative shares of the target devices told in
// each wave, in percent.
var DefaultWaves = []float64{1, 10, 50, 100}

// Defaults of a campaign.
const (
	DefaultSoak           = time.Hour
	DefaultMaxFailureRate = 0.1
	// MinSample is how many finished jobs the failure rate needs before it
	// can halt a campaign (fewer when the campaign is smaller): one early
	// failure out of one must not stop a province-wide rollout, but a 1%
	// wave of five failing devices must.
	MinSample = 5
)

// Campaign rolls one image out to the devices of a model under a unit.
// The target devices are resolved once, at creation, and kept as jobs, so
// what a campaign covers does not drift while it runs.
type Campaign struct {
	ID             string        `json:"id"`
	Name           string        `json:"name"`
	ImageID        string        `json:"image_id"`
	Model          string        `json:"model"`
	TargetVersion  string        `json:"target_version"`
	UnitID         string        `json:"unit_id"`
	UnitPath       string        `json:"-"`
	FromVersions   []string      `json:"from_versions"` // empty: every version but the target
	Waves          []float64     `json:"waves"`         // cumulative percent, ending at 100
	SoakS          int64         `json:"soak_s"`
	MaxFailureRate float64       `json:"max_failure_rate"`
	State          CampaignState `json:"state"`
	Wave           int           `json:"wave"` // the wave open now, from 0
	WaveOpenedAt   *time.Time    `json:"wave_opened_at,omitempty"`
	WaveDoneAt     *time.Time    `json:"wave_done_at,omitempty"` // its soak runs from here
	Reason         string        `json:"reason,omitempty"`       // why halted, paused or cancelled
	CreatedBy      string        `json:"created_by"`
	CreatedAt      time.Time     `json:"created_at"`
	UpdatedAt      time.Time     `json:"updated_at"`
	Version        int           `json:"version"`
}

// Soak is the time the campaign waits after a wave finishes.
func (c Campaign) Soak() time.Duration { return time.Duration(c.SoakS) * time.Second }

// Job is one device's update within a campaign.
type Job struct {
	ID              string    `json:"id"`
	CampaignID      string    `json:"campaign_id"`
	DeviceID        string    `json:"device_id"`
	Wave            int       `json:"wave"`
	State           JobState  `json:"state"`
	FromVersion     string    `json:"from_version"`
	ReportedVersion string    `json:"reported_version,omitempty"`
	ProgressPct     float64   `json:"progress_pct"`
	Attempts        int       `json:"attempts"` // commands sent
	Error           string    `json:"error,omitempty"`
	TokenHash       string    `json:"-"`
	UpdatedAt       time.Time `json:"updated_at"` // last change or report: timeouts run from here
}

// waveSizes splits n jobs over cumulative percentages: wave i holds the
// jobs from ceil(p[i-1]·n/100) to ceil(p[i]·n/100). Waves may be empty on
// a small fleet.
func waveSizes(n int, waves []float64) []int {
	sizes := make([]int, len(waves))
	prev := 0
	for i, p := range waves {
		upto := int(math.Ceil(p * float64(n) / 100))
		if i == len(waves)-1 {
			upto = n
		}
		upto = min(max(upto, prev), n)
		sizes[i] = upto - prev
		prev = upto
	}
	return sizes
}

// Progress counts a campaign's jobs.
type Progress struct {
	Total       int      `json:"total"`
	Pending     int      `json:"pending"`
	InFlight    int      `json:"in_flight"` // notified, downloading or installing
	Done        int      `json:"done"`
	Failed      int      `json:"failed"`
	Deferred    int      `json:"deferred"`
	Cancelled   int      `json:"cancelled"`
	FailureRate *float64 `json:"failure_rate"` // failed / (done + failed); null before any finished
}

func (p *Progress) add(s JobState) {
	p.Total++
	switch {
	case s == JobPending:
		p.Pending++
	case s.inFlight():
		p.InFlight++
	case s == JobDone:
		p.Done++
	case s == JobFailed:
		p.Failed++
	case s == JobDeferred:
		p.Deferred++
	case s == JobCancelled:
		p.Cancelled++
	}
}

func (p *Progress) finish() {
	if n := p.Done + p.Failed; n > 0 {
		r := float64(p.Failed) / float64(n)
		p.FailureRate = &r
	}
}

// WaveState is where one wave stands.
type WaveState string

const (
	WaveWaiting WaveState = "waiting"
	WaveOpen    WaveState = "open"    // its devices are being updated
	WaveSoaking WaveState = "soaking" // finished; the next waits for the soak
	WaveDone    WaveState = "done"
)

// WaveProgress is one wave's share and counts.
type WaveProgress struct {
	Index     int        `json:"index"`
	Percent   float64    `json:"percent"` // cumulative
	State     WaveState  `json:"state"`
	SoakUntil *time.Time `json:"soak_until,omitempty"`
	Progress
}

// CampaignView is a campaign with its counts, overall and per wave.
type CampaignView struct {
	Campaign
	Progress Progress       `json:"progress"`
	WaveList []WaveProgress `json:"wave_progress"`
}

// view counts jobs into a CampaignView.
func view(c Campaign, jobs []Job) CampaignView {
	v := CampaignView{Campaign: c, WaveList: make([]WaveProgress, len(c.Waves))}
	for i, p := range c.Waves {
		v.WaveList[i] = WaveProgress{Index: i, Percent: p, State: WaveWaiting}
	}
	for _, j := range jobs {
		v.Progress.add(j.State)
		if j.Wave >= 0 && j.Wave < len(v.WaveList) {
			v.WaveList[j.Wave].add(j.State)
		}
	}
	v.Progress.finish()
	for i := range v.WaveList {
		w := &v.WaveList[i]
		w.finish()
		switch {
		case i < c.Wave || c.State == CampaignCompleted:
			w.State = WaveDone
		case i == c.Wave && c.WaveDoneAt != nil && i < len(c.Waves)-1:
			w.State = WaveSoaking
			until := c.WaveDoneAt.Add(c.Soak())
			w.SoakUntil = &until
		case i == c.Wave && c.WaveDoneAt != nil:
			w.State = WaveDone
		case i == c.Wave && c.WaveOpenedAt != nil:
			w.State = WaveOpen
		}
	}
	return v
}
