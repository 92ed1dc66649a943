package firmware

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

// Devices is the register as the firmware manager needs it (fleet.Register
// implements it).
type Devices interface {
	// Devices lists the devices in actor's subtree (narrowed to
	// f.UnitID's): campaigns resolve their targets with the creator's
	// own scope.
	Devices(ctx context.Context, actor fleet.User, f fleet.DeviceFilter) ([]fleet.Device, string, error)
	LookupDevice(ctx context.Context, id string) (fleet.Device, error)
	UnitPath(ctx context.Context, id string) (string, error)
	// AuthenticateDevice checks a device's MQTT credentials, which it may
	// also present to download an image.
	AuthenticateDevice(ctx context.Context, id, secret string) (fleet.Device, error)
	// UpdateDevice records a confirmed firmware version in the register.
	UpdateDevice(ctx context.Context, actor fleet.User, id string, p fleet.DevicePatch) (fleet.Device, error)
	// RecordAudit logs what a manager did to images and campaigns.
	RecordAudit(ctx context.Context, actor fleet.User, action, entity, id, unitID string, before, after any) error
}

// DeviceStatus is what the live state knows of a device right now.
type DeviceStatus struct {
	Online     bool
	Recording  bool
	BatteryPct *float64
	Charging   bool
}

// LiveState answers whether a device may be interrupted (ingest's live
// state, adapted by cmd). ok is false for a device not heard from.
type LiveState interface {
	DeviceStatus(deviceID string) (st DeviceStatus, ok bool)
}

// Notifier sends a command to a device (ingest.Commands implements it).
type Notifier interface {
	Send(ctx context.Context, deviceID, name string, v any) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, deviceID, name string, v any) error

func (f NotifierFunc) Send(ctx context.Context, deviceID, name string, v any) error {
	return f(ctx, deviceID, name, v)
}

// Config tunes the manager. Zero values take the defaults.
type Config struct {
	MaxImageBytes   int64         // largest image accepted; default 512 MiB
	Tick            time.Duration // how often the engine looks at campaigns; default 5 s
	NotifyTimeout   time.Duration // a told device must answer within; default 10 min
	DownloadTimeout time.Duration // silence while downloading; default 30 min
	InstallTimeout  time.Duration // from installing to the version report; default 20 min
	MaxAttempts     int           // commands sent to a silent device before it fails; default 3
	DeferRetry      time.Duration // how long a deferred device waits; default 10 min
	MinBatteryPct   float64       // below this, not charging, a device is deferred; default 30
	RequireOnline   bool          // defer devices the live state has not seen online
	TempDir         string        // where uploads are spooled while hashed; default os.TempDir()
}

func (c Config) withDefaults() Config {
	c.MaxImageBytes = cmp.Or(c.MaxImageBytes, 512<<20)
	c.Tick = cmp.Or(c.Tick, 5*time.Second)
	c.NotifyTimeout = cmp.Or(c.NotifyTimeout, 10*time.Minute)
	c.DownloadTimeout = cmp.Or(c.DownloadTimeout, 30*time.Minute)
	c.InstallTimeout = cmp.Or(c.InstallTimeout, 20*time.Minute)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, 3)
	c.DeferRetry = cmp.Or(c.DeferRetry, 10*time.Minute)
	c.MinBatteryPct = cmp.Or(c.MinBatteryPct, 30)
	c.TempDir = cmp.Or(c.TempDir, os.TempDir())
	return c
}

// Deps are the manager's collaborators. Store, Blobs, Keys and Devices
// are required.
type Deps struct {
	Store    Store
	Blobs    fleet.BlobStore // image bytes, by SHA-256
	Keys     *Keys
	Devices  Devices
	Live     LiveState // nil: nobody is deferred for being busy
	Notifier Notifier  // nil: campaigns cannot start (EUNAVAILABLE)
	// DownloadURL turns the path of a download (with its job token) into
	// the absolute URL a device fetches.
	DownloadURL func(path string) string
	Logger      *slog.Logger
	Now         func() time.Time // default time.Now; tests run in a synctest bubble
}

// Manager uploads images, runs campaigns, and follows each device through
// the update: the HTTP layer calls its actor-taking methods, the ingest
// pipeline HandleFirmwareProgress, and Run drives waves, soaks, timeouts
// and halts.
type Manager struct {
	cfg   Config
	store Store
	blobs fleet.BlobStore
	keys  *Keys
	devs  Devices
	live  LiveState
	note  Notifier
	url   func(string) string
	log   *slog.Logger
	now   func() time.Time

	// mu serialises every change of campaigns and jobs within this
	// process: the engine's steps, progress reports and the managers'
	// actions read, decide and write without interleaving.
	mu   sync.Mutex
	kick chan struct{} // capacity 1: "look now", coalesced

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

// New returns a manager; Run starts its engine.
func New(cfg Config, d Deps) (*Manager, error) {
	if d.Store == nil || d.Blobs == nil || d.Keys == nil || d.Devices == nil {
		return nil, errors.New("firmware: manager needs a store, a blob store, keys and the register")
	}
	if len(d.Keys.PublicKeys()) == 0 {
		return nil, errors.New("firmware: no signing key and no trusted public key")
	}
	m := &Manager{cfg: cfg.withDefaults(), store: d.Store, blobs: d.Blobs, keys: d.Keys, devs: d.Devices,
		live: d.Live, note: d.Notifier, url: d.DownloadURL, log: d.Logger, now: d.Now,
		kick: make(chan struct{}, 1), closed: make(chan struct{})}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.log = m.log.With("component", "firmware")
	if m.now == nil {
		m.now = time.Now
	}
	if m.url == nil {
		m.url = func(p string) string { return p }
	}
	return m, nil
}

// ---- images ----

// UploadImage stores an image from r, hashing it on the way. It refuses
// (before the image exists for anyone) bytes that do not hash to a
// declared in.SHA256 and a signature no trusted key verifies; without a
// signature the service signs with its own key.
func (m *Manager) UploadImage(ctx context.Context, actor fleet.User, in ImageInput, r io.Reader) (Image, error) {
	if !actor.Role.Can(fleet.PermManageDevices) {
		return Image{}, fleet.Errorf(fleet.EFORBIDDEN, "role %s may not upload firmware", actor.Role)
	}
	var err error
	if in.Model, err = text("model", in.Model, 64, true); err != nil {
		return Image{}, err
	}
	if in.Version, err = text("version", in.Version, 32, true); err != nil {
		return Image{}, err
	}
	if in.ReleaseNotes, err = text("release_notes", in.ReleaseNotes, 4000, false); err != nil {
		return Image{}, err
	}
	in.SHA256 = strings.ToLower(strings.TrimSpace(in.SHA256))
	if in.SHA256 != "" && !isHex64(in.SHA256) {
		return Image{}, fleet.Invalid("sha256", "sha256 is 64 hex digits")
	}
	in.Signature = strings.TrimSpace(in.Signature)
	if in.Signature == "" && m.keys.Signer == nil {
		return Image{}, badSignature("this service signs nothing itself; upload the offline key's signature")
	}

	// Spool to a temporary file: the signature can only be checked once
	// the whole file is hashed, and nothing unchecked may reach the store.
	tmp, err := os.CreateTemp(m.cfg.TempDir, "firmware-upload-*")
	if err != nil {
		return Image{}, fmt.Errorf("firmware: spool upload: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, m.cfg.MaxImageBytes+1))
	if err != nil {
		return Image{}, fmt.Errorf("firmware: read upload: %w", err)
	}
	if n > m.cfg.MaxImageBytes {
		return Image{}, fleet.Invalid("file", "the image is larger than %d bytes", m.cfg.MaxImageBytes)
	}
	if n == 0 {
		return Image{}, fleet.Invalid("file", "the image is empty")
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if in.SHA256 != "" && in.SHA256 != sum {
		return Image{}, hashMismatch(in.SHA256, sum)
	}
	sig := in.Signature
	if sig == "" {
		sig = Sign(m.keys.Signer, in.Model, in.Version, n, sum)
	}
	pub, ok := m.keys.trusted(in.Model, in.Version, n, sum, sig)
	if !ok {
		return Image{}, badSignature("no trusted key verifies this signature over model %s, version %s, %d bytes, sha256 %s",
			in.Model, in.Version, n, sum)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Image{}, fmt.Errorf("firmware: rewind upload: %w", err)
	}
	// The blob store hashes again as it writes: what it keeps is what was
	// checked.
	if err := m.blobs.Put(ctx, sum, n, tmp); err != nil {
		return Image{}, fmt.Errorf("firmware: store image: %w", err)
	}
	img := Image{ID: fleet.NewID("fwi"), Model: in.Model, Version: in.Version, SizeBytes: n, SHA256: sum,
		Signature: sig, KeyID: KeyID(pub), ReleaseNotes: in.ReleaseNotes, UploadedBy: actor.ID,
		UploadedAt: m.now().UTC()}
	if err := m.store.CreateImage(ctx, img); err != nil {
		if fleet.ErrorCode(err) == fleet.ECONFLICT {
			return Image{}, fleet.Errorf(fleet.ECONFLICT, "model %s already has an image of version %s", in.Model, in.Version)
		}
		return Image{}, fmt.Errorf("firmware: record image: %w", err)
	}
	m.audit(ctx, actor, "firmware.upload", "firmware_image", img.ID, "", img)
	return img, nil
}

// Images lists images, newest first; model "" lists every model.
func (m *Manager) Images(ctx context.Context, actor fleet.User, model string, p fleet.Page) ([]Image, string, error) {
	if !actor.Role.Can(fleet.PermReadRegister) {
		return nil, "", fleet.Errorf(fleet.EFORBIDDEN, "role %s may not see firmware", actor.Role)
	}
	return m.store.Images(ctx, model, p)
}

// Image returns one image.
func (m *Manager) Image(ctx context.Context, actor fleet.User, id string) (Image, error) {
	if !actor.Role.Can(fleet.PermReadRegister) {
		return Image{}, fleet.Errorf(fleet.EFORBIDDEN, "role %s may not see firmware", actor.Role)
	}
	return m.store.Image(ctx, id)
}

// ---- campaigns ----

// CampaignInput starts a campaign. Zero Waves, SoakS and MaxFailureRate
// take the defaults (1%, 10%, 50%, 100%; an hour; 10%).
type CampaignInput struct {
	Name           string    `json:"name"`
	ImageID        string    `json:"image_id"`
	UnitID         string    `json:"unit_id"`
	FromVersions   []string  `json:"from_versions"`
	Waves          []float64 `json:"waves"`
	SoakS          *int64    `json:"soak_s"`
	MaxFailureRate *float64  `json:"max_failure_rate"`
}

// CreateCampaign resolves the target devices (the image's model, under
// UnitID within actor's scope, on one of FromVersions, or any version but
// the target) and starts the campaign; its first wave goes out at the
// engine's next step.
func (m *Manager) CreateCampaign(ctx context.Context, actor fleet.User, in CampaignInput) (CampaignView, error) {
	if !actor.Role.Can(fleet.PermManageDevices) {
		return CampaignView{}, fleet.Errorf(fleet.EFORBIDDEN, "role %s may not roll out firmware", actor.Role)
	}
	if m.note == nil {
		return CampaignView{}, fleet.Errorf(fleet.EUNAVAILABLE, "firmware commands cannot be sent: no MQTT broker to send them through")
	}
	name, err := text("name", in.Name, 120, true)
	if err != nil {
		return CampaignView{}, err
	}
	waves := in.Waves
	if len(waves) == 0 {
		waves = DefaultWaves
	}
	if err := checkWaves(waves); err != nil {
		return CampaignView{}, err
	}
	soak := int64(DefaultSoak / time.Second)
	if in.SoakS != nil {
		if *in.SoakS < 0 || *in.SoakS > 30*24*3600 {
			return CampaignView{}, fleet.Invalid("soak_s", "soak_s is from 0 to 30 days in seconds")
		}
		soak = *in.SoakS
	}
	rate := DefaultMaxFailureRate
	if in.MaxFailureRate != nil {
		if !(*in.MaxFailureRate >= 0 && *in.MaxFailureRate <= 1) {
			return CampaignView{}, fleet.Invalid("max_failure_rate", "max_failure_rate is a fraction from 0 to 1")
		}
		rate = *in.MaxFailureRate
	}
	if strings.TrimSpace(in.ImageID) == "" {
		return CampaignView{}, fleet.Invalid("image_id", "image_id is required")
	}
	img, err := m.store.Image(ctx, in.ImageID)
	if fleet.ErrorCode(err) == fleet.ENOTFOUND {
		return CampaignView{}, fleet.Invalid("image_id", "image %s does not exist", in.ImageID)
	} else if err != nil {
		return CampaignView{}, err
	}
	// Check the image again, as stored, before any device is told of it.
	if err := m.checkStored(ctx, img); err != nil {
		return CampaignView{}, err
	}
	if strings.TrimSpace(in.UnitID) == "" {
		return CampaignView{}, fleet.Invalid("unit_id", "unit_id is required")
	}
	path, err := m.devs.UnitPath(ctx, in.UnitID)
	if fleet.ErrorCode(err) == fleet.ENOTFOUND || (err == nil && !fleet.PathContains(actor.Scope(), path)) {
		return CampaignView{}, fleet.Invalid("unit_id", "unit %s does not exist", in.UnitID)
	} else if err != nil {
		return CampaignView{}, err
	}
	from := map[string]bool{}
	for _, v := range in.FromVersions {
		from[strings.TrimSpace(v)] = true
	}
	var targets []fleet.Device
	f := fleet.DeviceFilter{UnitID: in.UnitID, Query: img.Model, Page: fleet.Page{Limit: 500}}
	for {
		ds, next, err := m.devs.Devices(ctx, actor, f)
		if err != nil {
			return CampaignView{}, err
		}
		for _, d := range ds {
			if d.Model == img.Model && d.Status.InService() && d.FirmwareVersion != img.Version &&
				(len(from) == 0 || from[d.FirmwareVersion]) {
				targets = append(targets, d)
			}
		}
		if next == "" {
			break
		}
		f.After = next
	}
	if len(targets) == 0 {
		return CampaignView{}, fleet.Errorf(fleet.EINVALID, "no device of model %s under that unit needs version %s", img.Model, img.Version)
	}
	now := m.now().UTC()
	c := Campaign{ID: fleet.NewID("fwc"), Name: name, ImageID: img.ID, Model: img.Model, TargetVersion: img.Version,
		UnitID: in.UnitID, UnitPath: path, FromVersions: slices.Sorted(mapKeys(from)), Waves: waves, SoakS: soak,
		MaxFailureRate: rate, State: CampaignRunning, CreatedBy: actor.ID, CreatedAt: now, UpdatedAt: now, Version: 1}
	// Shuffled, so that the first small wave is a fair sample of the
	// fleet rather than the oldest devices of one station.
	mrand.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	jobs := make([]Job, 0, len(targets))
	i := 0
	for w, size := range waveSizes(len(targets), waves) {
		for range size {
			d := targets[i]
			i++
			jobs = append(jobs, Job{ID: fleet.NewID("fwj"), CampaignID: c.ID, DeviceID: d.ID, Wave: w,
				State: JobPending, FromVersion: d.FirmwareVersion, UpdatedAt: now})
		}
	}
	if err := m.store.CreateCampaign(ctx, c, jobs); err != nil {
		return CampaignView{}, fmt.Errorf("firmware: create campaign: %w", err)
	}
	m.audit(ctx, actor, "firmware.campaign.create", "firmware_campaign", c.ID, c.UnitID, c)
	m.poke()
	return view(c, jobs), nil
}

func checkWaves(waves []float64) error {
	if len(waves) > 20 {
		return fleet.Invalid("waves", "at most 20 waves")
	}
	prev := 0.0
	for _, p := range waves {
		if !(p > prev && p <= 100) || math.IsNaN(p) {
			return fleet.Invalid("waves", "waves are rising cumulative percentages above 0, ending at 100")
		}
		prev = p
	}
	if prev != 100 {
		return fleet.Invalid("waves", "the last wave must reach 100 percent")
	}
	return nil
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if k != "" && !yield(k) {
				return
			}
		}
	}
}

// checkStored re-reads a stored image and checks its hash and signature.
func (m *Manager) checkStored(ctx context.Context, img Image) error {
	b, err := m.blobs.Open(ctx, img.SHA256)
	if err != nil {
		return fmt.Errorf("firmware: open image %s: %w", img.ID, err)
	}
	defer b.Close()
	h := sha256.New()
	n, err := io.Copy(h, b)
	if err != nil {
		return fmt.Errorf("firmware: read image %s: %w", img.ID, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != img.SHA256 || n != img.SizeBytes {
		return fleet.Errorf(fleet.ECONFLICT, "%s: stored image %s no longer hashes to %s", EHashMismatch, img.ID, img.SHA256)
	}
	if _, ok := m.keys.trusted(img.Model, img.Version, img.SizeBytes, img.SHA256, img.Signature); !ok {
		return fleet.Errorf(fleet.ECONFLICT, "%s: image %s is not signed by a trusted key", EBadSignature, img.ID)
	}
	return nil
}

// Campaigns lists the campaigns in actor's subtree with their progress.
func (m *Manager) Campaigns(ctx context.Context, actor fleet.User, p fleet.Page) ([]CampaignView, string, error) {
	if !actor.Role.Can(fleet.PermReadRegister) {
		return nil, "", fleet.Errorf(fleet.EFORBIDDEN, "role %s may not see firmware campaigns", actor.Role)
	}
	cs, next, err := m.store.Campaigns(ctx, actor.Scope(), p)
	if err != nil {
		return nil, "", err
	}
	out := make([]CampaignView, 0, len(cs))
	for _, c := range cs {
		jobs, err := m.store.Jobs(ctx, c.ID)
		if err != nil {
			return nil, "", err
		}
		out = append(out, view(c, jobs))
	}
	return out, next, nil
}

// Campaign returns one campaign with per-wave progress.
func (m *Manager) Campaign(ctx context.Context, actor fleet.User, id string) (CampaignView, error) {
	c, err := m.campaignIn(ctx, actor, fleet.PermReadRegister, id)
	if err != nil {
		return CampaignView{}, err
	}
	jobs, err := m.store.Jobs(ctx, c.ID)
	if err != nil {
		return CampaignView{}, err
	}
	return view(c, jobs), nil
}

// CampaignJobs lists a campaign's jobs.
func (m *Manager) CampaignJobs(ctx context.Context, actor fleet.User, id string) ([]Job, error) {
	c, err := m.campaignIn(ctx, actor, fleet.PermReadRegister, id)
	if err != nil {
		return nil, err
	}
	return m.store.Jobs(ctx, c.ID)
}

func (m *Manager) campaignIn(ctx context.Context, actor fleet.User, perm fleet.Permission, id string) (Campaign, error) {
	c, err := m.store.Campaign(ctx, id)
	if err != nil {
		return Campaign{}, err
	}
	if !fleet.PathContains(actor.Scope(), c.UnitPath) {
		return Campaign{}, fleet.Errorf(fleet.ENOTFOUND, "campaign not found")
	}
	if !actor.Role.Can(perm) {
		return Campaign{}, fleet.Errorf(fleet.EFORBIDDEN, "role %s may not do this", actor.Role)
	}
	return c, nil
}

// Pause stops telling new devices; devices already told carry on.
func (m *Manager) Pause(ctx context.Context, actor fleet.User, id, reason string) (CampaignView, error) {
	return m.transition(ctx, actor, id, "pause", reason, func(c *Campaign) error {
		if c.State != CampaignRunning {
			return fleet.Errorf(fleet.ECONFLICT, "a %s campaign cannot be paused", c.State)
		}
		c.State = CampaignPaused
		return nil
	})
}

// Resume carries on a paused campaign. A halted one is not resumed: its
// image made devices fail, and the fix is a new image and campaign.
func (m *Manager) Resume(ctx context.Context, actor fleet.User, id, reason string) (CampaignView, error) {
	return m.transition(ctx, actor, id, "resume", reason, func(c *Campaign) error {
		if c.State != CampaignPaused {
			return fleet.Errorf(fleet.ECONFLICT, "a %s campaign cannot be resumed", c.State)
		}
		c.State = CampaignRunning
		return nil
	})
}

// Cancel ends a campaign: devices not yet told never will be; devices
// mid-install finish and report as usual.
func (m *Manager) Cancel(ctx context.Context, actor fleet.User, id, reason string) (CampaignView, error) {
	return m.transition(ctx, actor, id, "cancel", reason, func(c *Campaign) error {
		if !c.State.active() {
			return fleet.Errorf(fleet.ECONFLICT, "a %s campaign cannot be cancelled", c.State)
		}
		c.State = CampaignCancelled
		return nil
	})
}

func (m *Manager) transition(ctx context.Context, actor fleet.User, id, action, reason string, fn func(*Campaign) error) (CampaignView, error) {
	reason, err := text("reason", reason, 200, false)
	if err != nil {
		return CampaignView{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.campaignIn(ctx, actor, fleet.PermManageDevices, id)
	if err != nil {
		return CampaignView{}, err
	}
	before := c
	if err := fn(&c); err != nil {
		return CampaignView{}, err
	}
	c.Reason = reason
	c.UpdatedAt = m.now().UTC()
	if err := m.store.UpdateCampaign(ctx, c); err != nil {
		return CampaignView{}, err
	}
	c.Version++
	jobs, err := m.store.Jobs(ctx, c.ID)
	if err != nil {
		return CampaignView{}, err
	}
	if c.State == CampaignCancelled {
		for i, j := range jobs {
			if j.State == JobPending || j.State == JobDeferred {
				j.State, j.UpdatedAt = JobCancelled, c.UpdatedAt
				if err := m.store.UpdateJob(ctx, j); err != nil {
					return CampaignView{}, err
				}
				jobs[i] = j
			}
		}
	}
	m.auditChange(ctx, actor, "firmware.campaign."+action, "firmware_campaign", c.ID, c.UnitID, before, c)
	m.poke()
	return view(c, jobs), nil
}

// ---- downloads ----

// DownloadCredentials are what a device presents to download: the job id
// and token from its command, or its id and MQTT secret.
type DownloadCredentials struct {
	JobID, Token     string
	DeviceID, Secret string
}

// OpenDownload authorises a device's download of an image and opens it.
// A device may fetch only an image it was told to install, while that job
// is in flight.
func (m *Manager) OpenDownload(ctx context.Context, imageID string, cr DownloadCredentials) (Image, fleet.Blob, error) {
	denied := fleet.Errorf(fleet.EUNAUTHORIZED, "not authorised to download this image")
	img, err := m.store.Image(ctx, imageID)
	if fleet.ErrorCode(err) == fleet.ENOTFOUND {
		return Image{}, nil, denied // do not tell strangers which ids exist
	} else if err != nil {
		return Image{}, nil, err
	}
	var jobs []Job
	switch {
	case cr.JobID != "" && cr.Token != "":
		j, err := m.store.Job(ctx, cr.JobID)
		if fleet.ErrorCode(err) == fleet.ENOTFOUND {
			return Image{}, nil, denied
		} else if err != nil {
			return Image{}, nil, err
		}
		if j.TokenHash == "" || subtle.ConstantTimeCompare([]byte(hashToken(cr.Token)), []byte(j.TokenHash)) != 1 {
			return Image{}, nil, denied
		}
		jobs = []Job{j}
	case cr.DeviceID != "":
		if _, err := m.devs.AuthenticateDevice(ctx, cr.DeviceID, cr.Secret); err != nil {
			if c := fleet.ErrorCode(err); c == fleet.EUNAUTHORIZED || c == fleet.ENOTFOUND {
				return Image{}, nil, denied
			}
			return Image{}, nil, err
		}
		if jobs, err = m.store.DeviceJobs(ctx, cr.DeviceID); err != nil {
			return Image{}, nil, err
		}
	default:
		return Image{}, nil, fleet.Errorf(fleet.EUNAUTHORIZED, "present the job token of the command, or the device id and secret")
	}
	for _, j := range jobs {
		if !j.State.inFlight() {
			continue
		}
		c, err := m.store.Campaign(ctx, j.CampaignID)
		if err != nil {
			return Image{}, nil, err
		}
		if c.ImageID == img.ID {
			b, err := m.blobs.Open(ctx, img.SHA256)
			if err != nil {
				return Image{}, nil, fmt.Errorf("firmware: open image %s: %w", img.ID, err)
			}
			return img, b, nil
		}
	}
	return Image{}, nil, fleet.Errorf(fleet.EFORBIDDEN, "this device was not told to install this image")
}

// ---- helpers ----

func (m *Manager) audit(ctx context.Context, actor fleet.User, action, entity, id, unitID string, after any) {
	m.auditChange(ctx, actor, action, entity, id, unitID, nil, after)
}

// auditChange logs to the register's audit log. A failure is logged, not
// returned: the change is made and the manager has seen its answer.
func (m *Manager) auditChange(ctx context.Context, actor fleet.User, action, entity, id, unitID string, before, after any) {
	if err := m.devs.RecordAudit(ctx, actor, action, entity, id, unitID, before, after); err != nil {
		m.log.Error("audit entry lost", "action", action, "id", id, "error", err)
	}
}

func text(field, s string, maxLen int, required bool) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" && required:
		return "", fleet.Invalid(field, "%s is required", field)
	case len([]rune(s)) > maxLen:
		return "", fleet.Invalid(field, "%s is at most %d characters", field, maxLen)
	case strings.ContainsAny(s, "\x00\r") || (field != "release_notes" && strings.ContainsRune(s, '\n')):
		return "", fleet.Invalid(field, "%s has control characters", field)
	}
	return s, nil
}

func newToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

// LiveStateFunc adapts a function to LiveState.
type LiveStateFunc func(deviceID string) (DeviceStatus, bool)

func (f LiveStateFunc) DeviceStatus(deviceID string) (DeviceStatus, bool) { return f(deviceID) }
