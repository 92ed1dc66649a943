package firmware

import (
	"context"

	"github.com/lawfleet/fleet/fleet"
)

// Store keeps images, campaigns and jobs. Implementation:
// firmware/sqlfirmware (the register's SQLite or PostgreSQL database).
// Missing records are fleet.ENOTFOUND, unique clashes fleet.ECONFLICT.
type Store interface {
	CreateImage(ctx context.Context, img Image) error
	Image(ctx context.Context, id string) (Image, error)
	// Images lists images newest first; model "" is every model.
	Images(ctx context.Context, model string, p fleet.Page) ([]Image, string, error)

	// CreateCampaign stores a campaign and its jobs in one transaction.
	CreateCampaign(ctx context.Context, c Campaign, jobs []Job) error
	Campaign(ctx context.Context, id string) (Campaign, error)
	// Campaigns lists campaigns under the unit path scope, newest first.
	Campaigns(ctx context.Context, scope string, p fleet.Page) ([]Campaign, string, error)
	// ActiveCampaigns lists the running, paused and halted campaigns.
	ActiveCampaigns(ctx context.Context) ([]Campaign, error)
	// UpdateCampaign saves c if it is still at c.Version (else ECONFLICT)
	// and bumps the stored version.
	UpdateCampaign(ctx context.Context, c Campaign) error

	Job(ctx context.Context, id string) (Job, error)
	// Jobs lists a campaign's jobs by wave, then id.
	Jobs(ctx context.Context, campaignID string) ([]Job, error)
	// DeviceJobs lists a device's jobs in flight (notified, downloading,
	// installing), for download authorisation.
	DeviceJobs(ctx context.Context, deviceID string) ([]Job, error)
	UpdateJob(ctx context.Context, j Job) error
}

// UpdateCommand is the payload of fleet/v1/{id}/cmd/firmware.update. URL
// carries a per-job token, so a device that cannot present its MQTT
// secret over HTTP can still download; the token works only for this
// image, while the job is in flight.
type UpdateCommand struct {
	TS        int64  `json:"ts"` // Unix ms
	Job       string `json:"job"`
	URL       string `json:"url"`
	Size      int64  `json:"size"` // bytes
	SHA256    string `json:"sha256"`
	Signature string `json:"signature"`
	Version   string `json:"version"`
	Model     string `json:"model"`
	KeyID     string `json:"key_id"`
}

// CommandName is the MQTT command a device is told an update with.
const CommandName = "firmware.update"

// Progress states a device reports on fleet/v1/{id}/firmware. The device
// may say more (e.g. "verifying", "rebooting"); those count as installing.
const (
	ReportDownloading = "downloading"
	ReportDownloaded  = "downloaded"
	ReportInstalling  = "installing"
	ReportDone        = "done"     // with version: what it runs after reboot
	ReportFailed      = "failed"   // with error
	ReportDeferred    = "deferred" // busy (recording, low battery): ask again later
)
