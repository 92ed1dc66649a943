// Package sqlfirmware is firmware.Store on the register's SQL database
// (SQLite or PostgreSQL, through *sqlstore.DB's connection pool).
//
// Dependency direction: the firmware domain declares the Store it needs
// and knows no SQL; fleet/sqlstore owns the database, its connection and
// its migrations (00006_firmware.sql creates these tables) and knows
// nothing of firmware. This adapter is the one place that knows both, so
// neither domain grows an import of the other's adapter. It uses only
// $n placeholders and portable SQL, which both databases accept.
package sqlfirmware

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lawfleet/fleet/firmware"
	"github.com/lawfleet/fleet/fleet"
)

// DB is the register's database (*sqlstore.DB implements it).
type DB interface {
	SQL() *sql.DB
}

// Store implements firmware.Store.
type Store struct {
	db *sql.DB
}

var _ firmware.Store = (*Store)(nil)

// New returns a store over db, which must be migrated (sqlstore.Open
// does it).
func New(db DB) *Store { return &Store{db: db.SQL()} }

const (
	defaultLimit = 50
	maxLimit     = 500
)

func limitOf(p fleet.Page) int {
	switch {
	case p.Limit <= 0:
		return defaultLimit
	case p.Limit > maxLimit:
		return maxLimit
	}
	return p.Limit
}

func ms(t time.Time) int64       { return t.UnixMilli() }
func fromMS(v int64) time.Time   { return time.UnixMilli(v).UTC() }
func notFound(what string) error { return fleet.Errorf(fleet.ENOTFOUND, "%s not found", what) }
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	// SQLite says "UNIQUE constraint failed", PostgreSQL SQLSTATE 23505.
	if strings.Contains(msg, "UNIQUE constraint") || strings.Contains(msg, "23505") {
		return fleet.Errorf(fleet.ECONFLICT, "%s: already exists", op)
	}
	return fmt.Errorf("sqlfirmware: %s: %w", op, err)
}

// ---- images ----

const imageCols = `id, model, version, size_bytes, sha256, signature, key_id, release_notes, uploaded_by, uploaded_at`

func (s *Store) CreateImage(ctx context.Context, img firmware.Image) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO firmware_images (`+imageCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		img.ID, img.Model, img.Version, img.SizeBytes, img.SHA256, img.Signature, img.KeyID, img.ReleaseNotes,
		img.UploadedBy, ms(img.UploadedAt))
	return wrap("create image", err)
}

type scanner interface{ Scan(...any) error }

func scanImage(r scanner) (firmware.Image, error) {
	var img firmware.Image
	var at int64
	err := r.Scan(&img.ID, &img.Model, &img.Version, &img.SizeBytes, &img.SHA256, &img.Signature, &img.KeyID,
		&img.ReleaseNotes, &img.UploadedBy, &at)
	img.UploadedAt = fromMS(at)
	return img, err
}

func (s *Store) Image(ctx context.Context, id string) (firmware.Image, error) {
	img, err := scanImage(s.db.QueryRowContext(ctx, `SELECT `+imageCols+` FROM firmware_images WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return img, notFound("image")
	}
	return img, wrap("image", err)
}

func (s *Store) Images(ctx context.Context, model string, p fleet.Page) ([]firmware.Image, string, error) {
	limit := limitOf(p)
	q := `SELECT ` + imageCols + ` FROM firmware_images WHERE ($1 = '' OR model = $1) AND ($2 = '' OR id < $2)
		ORDER BY id DESC LIMIT $3`
	rows, err := s.db.QueryContext(ctx, q, model, p.After, limit+1)
	if err != nil {
		return nil, "", wrap("images", err)
	}
	out, err := collect(rows, scanImage)
	if err != nil {
		return nil, "", wrap("images", err)
	}
	return page(out, limit, func(i firmware.Image) string { return i.ID })
}

func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// page cuts the extra row fetched to know whether another page exists.
func page[T any](items []T, limit int, id func(T) string) ([]T, string, error) {
	if len(items) <= limit {
		return items, "", nil
	}
	items = items[:limit]
	return items, id(items[limit-1]), nil
}

// ---- campaigns ----

// campaignDoc is the stored campaign: UnitPath is not in the API's JSON
// but must be in the row's.
type campaignDoc struct {
	firmware.Campaign
	UnitPath string `json:"unit_path"`
}

func (s *Store) CreateCampaign(ctx context.Context, c firmware.Campaign, jobs []firmware.Job) error {
	doc, err := json.Marshal(campaignDoc{c, c.UnitPath})
	if err != nil {
		return fmt.Errorf("sqlfirmware: encode campaign: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap("create campaign", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO firmware_campaigns (id, unit_path, state, created_at, version, campaign_json)
		VALUES ($1, $2, $3, $4, $5, $6)`, c.ID, c.UnitPath, string(c.State), ms(c.CreatedAt), c.Version, string(doc)); err != nil {
		return wrap("create campaign", err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO firmware_jobs (`+jobCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`)
	if err != nil {
		return wrap("create jobs", err)
	}
	defer stmt.Close()
	for _, j := range jobs {
		if _, err := stmt.ExecContext(ctx, jobArgs(j)...); err != nil {
			return wrap("create job", err)
		}
	}
	return wrap("create campaign", tx.Commit())
}

func scanCampaign(r scanner) (firmware.Campaign, error) {
	var doc string
	var path string
	var version int
	if err := r.Scan(&path, &version, &doc); err != nil {
		return firmware.Campaign{}, err
	}
	var c campaignDoc
	if err := json.Unmarshal([]byte(doc), &c); err != nil {
		return firmware.Campaign{}, fmt.Errorf("decode campaign: %w", err)
	}
	c.Campaign.UnitPath, c.Campaign.Version = path, version
	return c.Campaign, nil
}

const campaignCols = `unit_path, version, campaign_json`

func (s *Store) Campaign(ctx context.Context, id string) (firmware.Campaign, error) {
	c, err := scanCampaign(s.db.QueryRowContext(ctx, `SELECT `+campaignCols+` FROM firmware_campaigns WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("campaign")
	}
	return c, wrap("campaign", err)
}

func (s *Store) Campaigns(ctx context.Context, scope string, p fleet.Page) ([]firmware.Campaign, string, error) {
	limit := limitOf(p)
	// A prefix match on unit paths, which are ids and slashes only (no
	// LIKE wildcards), hence substr rather than a range needing an index.
	rows, err := s.db.QueryContext(ctx, `SELECT `+campaignCols+` FROM firmware_campaigns
		WHERE substr(unit_path, 1, $1) = $2 AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4`,
		len(scope), scope, p.After, limit+1)
	if err != nil {
		return nil, "", wrap("campaigns", err)
	}
	out, err := collect(rows, scanCampaign)
	if err != nil {
		return nil, "", wrap("campaigns", err)
	}
	return page(out, limit, func(c firmware.Campaign) string { return c.ID })
}

func (s *Store) ActiveCampaigns(ctx context.Context) ([]firmware.Campaign, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+campaignCols+` FROM firmware_campaigns
		WHERE state IN ($1, $2, $3) ORDER BY id`,
		string(firmware.CampaignRunning), string(firmware.CampaignPaused), string(firmware.CampaignHalted))
	if err != nil {
		return nil, wrap("active campaigns", err)
	}
	out, err := collect(rows, scanCampaign)
	return out, wrap("active campaigns", err)
}

func (s *Store) UpdateCampaign(ctx context.Context, c firmware.Campaign) error {
	next := c
	next.Version++
	doc, err := json.Marshal(campaignDoc{next, c.UnitPath})
	if err != nil {
		return fmt.Errorf("sqlfirmware: encode campaign: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE firmware_campaigns SET state = $1, version = $2, campaign_json = $3
		WHERE id = $4 AND version = $5`, string(c.State), next.Version, string(doc), c.ID, c.Version)
	if err != nil {
		return wrap("update campaign", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("update campaign", err)
	} else if n == 0 {
		return fleet.Errorf(fleet.ECONFLICT, "campaign %s was changed meanwhile; reload it", c.ID)
	}
	return nil
}

// ---- jobs ----

const jobCols = `id, campaign_id, device_id, wave, state, from_version, reported_version, progress_pct, attempts,
	error, token_hash, updated_at`

func jobArgs(j firmware.Job) []any {
	return []any{j.ID, j.CampaignID, j.DeviceID, j.Wave, string(j.State), j.FromVersion, j.ReportedVersion,
		j.ProgressPct, j.Attempts, j.Error, j.TokenHash, ms(j.UpdatedAt)}
}

func scanJob(r scanner) (firmware.Job, error) {
	var j firmware.Job
	var state string
	var at int64
	err := r.Scan(&j.ID, &j.CampaignID, &j.DeviceID, &j.Wave, &state, &j.FromVersion, &j.ReportedVersion,
		&j.ProgressPct, &j.Attempts, &j.Error, &j.TokenHash, &at)
	j.State, j.UpdatedAt = firmware.JobState(state), fromMS(at)
	return j, err
}

func (s *Store) Job(ctx context.Context, id string) (firmware.Job, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, `SELECT `+jobCols+` FROM firmware_jobs WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, notFound("job")
	}
	return j, wrap("job", err)
}

func (s *Store) Jobs(ctx context.Context, campaignID string) ([]firmware.Job, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+jobCols+` FROM firmware_jobs WHERE campaign_id = $1 ORDER BY wave, id`, campaignID)
	if err != nil {
		return nil, wrap("jobs", err)
	}
	out, err := collect(rows, scanJob)
	return out, wrap("jobs", err)
}

func (s *Store) DeviceJobs(ctx context.Context, deviceID string) ([]firmware.Job, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+jobCols+` FROM firmware_jobs
		WHERE device_id = $1 AND state IN ($2, $3, $4) ORDER BY id`, deviceID,
		string(firmware.JobNotified), string(firmware.JobDownloading), string(firmware.JobInstalling))
	if err != nil {
		return nil, wrap("device jobs", err)
	}
	out, err := collect(rows, scanJob)
	return out, wrap("device jobs", err)
}

func (s *Store) UpdateJob(ctx context.Context, j firmware.Job) error {
	res, err := s.db.ExecContext(ctx, `UPDATE firmware_jobs SET wave = $4, state = $5, from_version = $6,
		reported_version = $7, progress_pct = $8, attempts = $9, error = $10, token_hash = $11, updated_at = $12
		WHERE id = $1 AND campaign_id = $2 AND device_id = $3`, jobArgs(j)...)
	if err != nil {
		return wrap("update job", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("update job", err)
	} else if n == 0 {
		return notFound("job")
	}
	return nil
}
