package firmware

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
)

// systemActor is who the engine acts as in the register: recording a
// version the device confirmed is the service's observation, audited as
// such.
var systemActor = fleet.User{ID: "system", Username: "firmware", Role: fleet.RoleAdmin}

// Run drives the campaigns until ctx is done: every Tick, and at once
// after a change (a new campaign, a finished job), it opens waves, waits
// out soaks, times out silent devices, retries deferred ones and halts a
// campaign whose failure rate passes its maximum.
func (m *Manager) Run(ctx context.Context) error {
	m.wg.Add(1)
	defer m.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.closed:
			return nil
		case <-t.C:
		case <-m.kick:
		}
		m.Step(ctx)
		t.Reset(m.cfg.Tick)
	}
}

// Close stops Run and waits for it.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() { close(m.closed) })
	m.wg.Wait()
	return nil
}

func (m *Manager) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Step looks at every active campaign once. Run calls it; it is exported
// for tests that drive the engine by hand.
func (m *Manager) Step(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cs, err := m.store.ActiveCampaigns(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Error("list active campaigns", "error", err)
		}
		return
	}
	for _, c := range cs {
		if err := m.stepCampaign(ctx, c); err != nil && ctx.Err() == nil {
			m.log.Error("campaign step failed", "campaign", c.ID, "error", err)
		}
	}
}

func (m *Manager) stepCampaign(ctx context.Context, c Campaign) error {
	now := m.now().UTC()
	img, err := m.store.Image(ctx, c.ImageID)
	if err != nil {
		return fmt.Errorf("image %s: %w", c.ImageID, err)
	}
	jobs, err := m.store.Jobs(ctx, c.ID)
	if err != nil {
		return err
	}
	for i := range jobs {
		if err := m.timeout(ctx, c, img, &jobs[i], now); err != nil {
			return err
		}
	}
	changed := false
	if c.State == CampaignRunning && m.shouldHalt(c, jobs) {
		p := view(c, jobs).Progress
		c.State = CampaignHalted
		c.Reason = fmt.Sprintf("failure rate %.0f%% (%d of %d finished) is over the maximum %.0f%%",
			100**p.FailureRate, p.Failed, p.Done+p.Failed, 100*c.MaxFailureRate)
		m.log.Warn("campaign halted", "campaign", c.ID, "reason", c.Reason)
		changed = true
	}
	if c.State == CampaignRunning {
		// Deferred devices of waves already open are asked again.
		for i := range jobs {
			j := &jobs[i]
			if j.State == JobDeferred && j.Wave <= c.Wave && !now.Before(j.UpdatedAt.Add(m.cfg.DeferRetry)) {
				if err := m.notify(ctx, c, img, j, now); err != nil {
					return err
				}
			}
		}
		for {
			if c.WaveOpenedAt == nil {
				c.WaveOpenedAt, c.WaveDoneAt, changed = &now, nil, true
				for i := range jobs {
					if j := &jobs[i]; j.Wave == c.Wave && j.State == JobPending {
						if err := m.notify(ctx, c, img, j, now); err != nil {
							return err
						}
					}
				}
			}
			if c.WaveDoneAt == nil && waveFinished(jobs, c.Wave) {
				c.WaveDoneAt, changed = &now, true
			}
			last := c.Wave == len(c.Waves)-1
			switch {
			case c.WaveDoneAt == nil:
			case last && allFinished(jobs):
				c.State, changed = CampaignCompleted, true
				m.log.Info("campaign completed", "campaign", c.ID)
			case !last && !now.Before(c.WaveDoneAt.Add(c.Soak())):
				c.Wave++
				c.WaveOpenedAt, c.WaveDoneAt, changed = nil, nil, true
				m.log.Info("wave opens", "campaign", c.ID, "wave", c.Wave)
				continue // open it now (and skip it at once if it is empty)
			}
			break
		}
	}
	if !changed {
		return nil
	}
	c.UpdatedAt = now
	if err := m.store.UpdateCampaign(ctx, c); err != nil {
		return fmt.Errorf("save campaign: %w", err)
	}
	return nil
}

// waveFinished reports whether every job of wave w is over or deferred:
// a busy device does not hold the rollout back; it is asked again later.
func waveFinished(jobs []Job, w int) bool {
	for _, j := range jobs {
		if j.Wave == w && !j.State.Terminal() && j.State != JobDeferred {
			return false
		}
	}
	return true
}

func allFinished(jobs []Job) bool {
	for _, j := range jobs {
		if !j.State.Terminal() {
			return false
		}
	}
	return true
}

// shouldHalt decides on the failure rate, failed / (done + failed), once
// MinSample jobs have finished. Within a wave it halts only when the rate
// is sure to end over the maximum whatever the rest of the wave does (the
// failures alone are over the maximum share of every device told so far),
// so that devices that fail fast do not halt a rollout that would pass;
// at the end of the wave it halts on the rate itself.
func (m *Manager) shouldHalt(c Campaign, jobs []Job) bool {
	p := view(c, jobs).Progress
	finished := p.Done + p.Failed
	if finished == 0 || finished < min(MinSample, p.Total) || *p.FailureRate <= c.MaxFailureRate {
		return false
	}
	told := 0
	for _, j := range jobs {
		if j.Wave <= c.Wave && j.State != JobCancelled && j.State != JobDeferred {
			told++
		}
	}
	return float64(p.Failed)/float64(told) > c.MaxFailureRate || waveFinished(jobs, c.Wave)
}

// timeout ends or retries a told device that has gone quiet for longer
// than its state allows.
func (m *Manager) timeout(ctx context.Context, c Campaign, img Image, j *Job, now time.Time) error {
	var limit time.Duration
	switch j.State {
	case JobNotified:
		limit = m.cfg.NotifyTimeout
	case JobDownloading:
		limit = m.cfg.DownloadTimeout
	case JobInstalling:
		limit = m.cfg.InstallTimeout
	default:
		return nil
	}
	if now.Sub(j.UpdatedAt) < limit {
		return nil
	}
	// The register may know better: the device may have come back on the
	// new version with its report lost (a technician's PATCH, or a
	// version taken from elsewhere).
	if d, err := m.devs.LookupDevice(ctx, j.DeviceID); err == nil && d.FirmwareVersion == c.TargetVersion {
		j.State, j.ReportedVersion, j.ProgressPct, j.Error, j.UpdatedAt = JobDone, d.FirmwareVersion, 100, "", now
		return m.store.UpdateJob(ctx, *j)
	}
	if j.State == JobNotified && j.Attempts < m.cfg.MaxAttempts && c.State == CampaignRunning {
		return m.notify(ctx, c, img, j, now)
	}
	j.State, j.Error, j.UpdatedAt = JobFailed, fmt.Sprintf("no report for %s while %s", limit, j.State), now
	m.log.Info("firmware job timed out", "campaign", c.ID, "device", j.DeviceID, "error", j.Error)
	return m.store.UpdateJob(ctx, *j)
}

// notify tells a device to update, unless it is busy, in which case the
// job is deferred: an officer's recording is never interrupted.
func (m *Manager) notify(ctx context.Context, c Campaign, img Image, j *Job, now time.Time) error {
	if why := m.busy(j.DeviceID); why != "" {
		j.State, j.Error, j.UpdatedAt = JobDeferred, why, now
		return m.store.UpdateJob(ctx, *j)
	}
	token := newToken()
	q := url.Values{"job": {j.ID}, "token": {token}}
	cmd := UpdateCommand{TS: now.UnixMilli(), Job: j.ID, URL: m.url(DownloadPath(img.ID) + "?" + q.Encode()),
		Size: img.SizeBytes, SHA256: img.SHA256, Signature: img.Signature, Version: img.Version,
		Model: img.Model, KeyID: img.KeyID}
	// The token is saved before the command goes out: a quick device may
	// start downloading before Send returns.
	prev := *j
	j.State, j.TokenHash, j.Attempts, j.Error, j.UpdatedAt = JobNotified, hashToken(token), j.Attempts+1, "", now
	if err := m.store.UpdateJob(ctx, *j); err != nil {
		return err
	}
	if err := m.note.Send(ctx, j.DeviceID, CommandName, cmd); err != nil {
		*j = prev
		j.State, j.Error, j.UpdatedAt = JobDeferred, "command not sent: "+err.Error(), now
		return m.store.UpdateJob(ctx, *j)
	}
	return nil
}

// DownloadPath is the API path of an image's download.
func DownloadPath(imageID string) string {
	return "/api/v1/firmware/images/" + url.PathEscape(imageID) + "/download"
}

func (m *Manager) busy(deviceID string) string {
	if m.live == nil {
		return ""
	}
	st, ok := m.live.DeviceStatus(deviceID)
	switch {
	case !ok && m.cfg.RequireOnline, ok && !st.Online && m.cfg.RequireOnline:
		return "offline"
	case ok && st.Recording:
		return "recording"
	case ok && st.BatteryPct != nil && *st.BatteryPct < m.cfg.MinBatteryPct && !st.Charging:
		return fmt.Sprintf("battery %.0f%%", *st.BatteryPct)
	}
	return ""
}

// ---- progress ----

// ErrUnknownJob is returned for a report that names a job the device does
// not have.
var ErrUnknownJob = errors.New("firmware: report for an unknown job")

// HandleFirmwareProgress takes a device's report on fleet/v1/{id}/firmware
// (the ingest pipeline calls it, in order per device). Reports for jobs
// already over are ignored: QoS 1 may deliver one twice.
func (m *Manager) HandleFirmwareProgress(ctx context.Context, deviceID string, p devices.FirmwareProgress) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.store.Job(ctx, p.Job)
	if fleet.ErrorCode(err) == fleet.ENOTFOUND || (err == nil && j.DeviceID != deviceID) {
		return fmt.Errorf("%w: %s from %s", ErrUnknownJob, p.Job, deviceID)
	} else if err != nil {
		return err
	}
	if j.State.Terminal() {
		return nil
	}
	c, err := m.store.Campaign(ctx, j.CampaignID)
	if err != nil {
		return err
	}
	now := m.now().UTC()
	j.UpdatedAt = now
	if p.ProgressPct != nil {
		j.ProgressPct = *p.ProgressPct
	}
	state := strings.ToLower(p.State)
	switch {
	case state == ReportDownloading:
		j.State = JobDownloading
	case state == ReportFailed:
		j.State, j.Error = JobFailed, cmpOr(p.Error, "the device reported a failure")
	case state == ReportDeferred:
		j.State, j.Error = JobDeferred, cmpOr(p.Error, "the device is busy")
	case state == ReportDone && p.Version == c.TargetVersion:
		j.State, j.ReportedVersion, j.ProgressPct, j.Error = JobDone, p.Version, 100, ""
	case state == ReportDone && p.Version != "":
		// Back on another version after the reboot: the device rolled
		// back, which is a failure of this image.
		j.State, j.ReportedVersion = JobFailed, p.Version
		j.Error = fmt.Sprintf("rolled back: running %s after the update, not %s", p.Version, c.TargetVersion)
	default: // downloaded, verifying, installing, rebooting, done without a version
		j.State = JobInstalling
	}
	if err := m.store.UpdateJob(ctx, j); err != nil {
		return err
	}
	if j.State == JobDone {
		v := p.Version
		if _, err := m.devs.UpdateDevice(ctx, systemActor, deviceID, fleet.DevicePatch{FirmwareVersion: &v,
			Reason: "firmware campaign " + c.ID}); err != nil {
			m.log.Warn("could not record the new firmware version", "device", deviceID, "error", err)
		}
	}
	if j.State.Terminal() || j.State == JobDeferred {
		m.poke() // the wave may be finished, or the campaign due to halt
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
