// Package alertstore is the persistent ingest.AlertStore: it keeps ingest's
// alerts in the register's database (SQLite or PostgreSQL), so that open
// alerts survive a restart (Alerts.Restore) and past ones stay listable.
//
// Dependency direction: ingest owns the Alert type and its rules; fleet owns
// the register's database. Neither should import the other's adapters, so
// the alert crosses the boundary as a fleet.AlertRecord (a few columns plus
// the alert as JSON, like an audit entry). fleet/sqlstore stores records and
// knows nothing of ingest; this package translates ingest.Alert to and from
// records and knows no SQL. It imports ingest and fleet only: the database
// comes in through the Records interface, which *sqlstore.DB implements, so
// cmd wires it as alertstore.New(db).
package alertstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest"
)

// Records is where alert records are kept (*sqlstore.DB).
type Records interface {
	SaveAlertRecord(ctx context.Context, r fleet.AlertRecord) error
	// AlertRecord returns ENOTFOUND for an unknown id.
	AlertRecord(ctx context.Context, id string) (fleet.AlertRecord, error)
	// AlertRecords returns a page and the cursor of the next ("" at the end).
	AlertRecords(ctx context.Context, q fleet.AlertQuery) ([]fleet.AlertRecord, string, error)
}

// Store implements ingest.AlertStore on Records, and answers the web
// layer's scoped, paged queries (QueryAlerts).
type Store struct {
	recs Records
}

var _ ingest.AlertStore = (*Store)(nil)

// New returns a store over recs.
func New(recs Records) *Store { return &Store{recs: recs} }

// Rank orders alerts on the commander's list: SOS before everything else,
// then newest first whatever the kind.
func Rank(k ingest.AlertKind) int {
	if k == ingest.AlertSOS {
		return 0
	}
	return 1
}

// pageSize is how many records Alerts reads at a time when its filter
// must be applied here (a scope function cannot go into SQL).
const pageSize = 500

// SaveAlert stores a unless a higher version of it is stored.
func (s *Store) SaveAlert(ctx context.Context, a ingest.Alert) error {
	doc, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("alertstore: encode alert %s: %w", a.ID, err)
	}
	r := fleet.AlertRecord{
		ID: a.ID, DeviceID: a.DeviceID, UnitID: a.UnitID, Kind: string(a.Kind), Priority: string(a.Priority),
		Rank: Rank(a.Kind), State: fleet.AlertStateOf(a.AckedAt, a.ClearedAt), RaisedAt: a.RaisedAt,
		AckedAt: a.AckedAt, AckedBy: a.AckedBy, ClearedAt: a.ClearedAt, Version: a.Version, Doc: doc,
	}
	if err := s.recs.SaveAlertRecord(ctx, r); err != nil {
		return fmt.Errorf("alertstore: %w", err)
	}
	return nil
}

// Alert returns alert id; an *fleet.Error with ENOTFOUND when unknown.
func (s *Store) Alert(ctx context.Context, id string) (ingest.Alert, error) {
	r, err := s.recs.AlertRecord(ctx, id)
	if err != nil {
		return ingest.Alert{}, fmt.Errorf("alertstore: %w", err)
	}
	return decode(r)
}

// Alerts lists the alerts f selects, newest first. Its Scope is a
// function, so it is applied here over pages read from the database; a
// scoped list of the whole history reads all of it, which is why the web
// layer uses QueryAlerts, whose scope is a unit path the database applies.
// With Limit <= 0 every match is returned: ingest uses that only for the
// open alerts (Restore), of which there are at most a few per device.
func (s *Store) Alerts(ctx context.Context, f ingest.AlertFilter) ([]ingest.Alert, error) {
	q := fleet.AlertQuery{DeviceID: f.DeviceID, Page: fleet.Page{Limit: pageSize}}
	if f.OpenOnly {
		q.States = []fleet.AlertState{fleet.AlertOpen, fleet.AlertAcked}
	}
	var out []ingest.Alert
	for {
		recs, next, err := s.recs.AlertRecords(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("alertstore: %w", err)
		}
		for _, r := range recs {
			if f.Scope != nil && !f.Scope(r.UnitID) {
				continue
			}
			a, err := decode(r)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
			if f.Limit > 0 && len(out) >= f.Limit {
				return out, nil
			}
		}
		if next == "" {
			return out, nil
		}
		q.After = next
	}
}

// QueryAlerts returns a page of the alerts q selects and the cursor of the
// next page ("" at the end).
func (s *Store) QueryAlerts(ctx context.Context, q fleet.AlertQuery) ([]ingest.Alert, string, error) {
	recs, next, err := s.recs.AlertRecords(ctx, q)
	if err != nil {
		return nil, "", fmt.Errorf("alertstore: %w", err)
	}
	out := make([]ingest.Alert, 0, len(recs))
	for _, r := range recs {
		a, err := decode(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, a)
	}
	return out, next, nil
}

func decode(r fleet.AlertRecord) (ingest.Alert, error) {
	var a ingest.Alert
	if err := json.Unmarshal(r.Doc, &a); err != nil {
		return ingest.Alert{}, fmt.Errorf("alertstore: decode alert %s: %w", r.ID, err)
	}
	return a, nil
}
