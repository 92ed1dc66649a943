package seed

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lawfleet/fleet/devices/sim/fleetapi"
	"github.com/lawfleet/fleet/fleet"
)

// Config is what a seed run needs besides the plan's options.
type Config struct {
	API            string        // the service's base URL, noted in the state file
	User, Password string        // an administrator of the whole register
	StatePath      string        // where device ids and secrets are kept
	DemoPassword   string        // password of every demo user
	Concurrency    int           // requests in flight at once
	ReadyTimeout   time.Duration // how long to wait for the service to come up
	Options
}

// Seeder puts a planned province into the service through its HTTP API.
type Seeder struct {
	api *fleetapi.Client
	cfg Config
	log *slog.Logger
}

// New returns a seeder that talks to the service through api.
func New(api *fleetapi.Client, cfg Config, logger *slog.Logger) *Seeder {
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 8
	}
	return &Seeder{api: api, cfg: cfg, log: logger.With("component", "seed")}
}

// Summary tells what a seed run made, or found made.
type Summary struct {
	Skipped      bool // the province was there already
	ProvinceID   string
	Units        map[fleet.UnitLevel]int
	Officers     map[Profile]int
	Eligible     int
	Devices      map[fleet.DeviceKind]map[fleet.DeviceStatus]int
	Users        []User
	DemoPassword string
	StatePath    string
	Took         time.Duration
}

// Seed signs in, and creates the demo province unless its code is taken.
// When it is, the earlier run's state file is reused, and it must exist
// and be complete: the devices' secrets cannot be had again.
func (s *Seeder) Seed(ctx context.Context) (Summary, error) {
	start := time.Now()
	if err := s.login(ctx); err != nil {
		return Summary{}, fmt.Errorf("sign in as %s: %w", s.cfg.User, err)
	}
	units, err := s.api.Units(ctx)
	if err != nil {
		return Summary{}, fmt.Errorf("list units: %w", err)
	}
	for _, u := range units {
		if u.Code == ProvinceCode {
			return s.reuse(u)
		}
	}
	sum, err := s.create(ctx, Generate(s.cfg.Options))
	sum.Took = time.Since(start)
	return sum, err
}

// login signs in, retrying while the service is still starting.
func (s *Seeder) login(ctx context.Context) error {
	deadline := time.Now().Add(s.cfg.ReadyTimeout)
	for try := 0; ; try++ {
		err := s.api.Login(ctx, s.cfg.User, s.cfg.Password)
		if err == nil || !fleetapi.Unreachable(err) || time.Now().After(deadline) {
			return err
		}
		level := slog.LevelDebug
		if try == 0 {
			level = slog.LevelInfo
		}
		s.log.Log(ctx, level, "service not reachable yet; retrying", "err", err, "for", s.cfg.ReadyTimeout)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (s *Seeder) reuse(province fleet.Unit) (Summary, error) {
	st, err := LoadState(s.cfg.StatePath)
	if errors.Is(err, ErrNoState) {
		return Summary{}, fmt.Errorf("province %s exists but state file %s does not: the devices' MQTT secrets are unknown; "+
			"pass the -state of the run that seeded it, or seed an empty register", ProvinceCode, s.cfg.StatePath)
	} else if err != nil {
		return Summary{}, err
	}
	if st.ProvinceID != province.ID {
		return Summary{}, fmt.Errorf("province %s exists as %s but state file %s is of province %s: "+
			"it belongs to another register", ProvinceCode, province.ID, s.cfg.StatePath, st.ProvinceID)
	}
	if !st.Complete {
		return Summary{}, fmt.Errorf("province %s exists but the seed that made it did not finish (state file %s); "+
			"seed an empty register", ProvinceCode, s.cfg.StatePath)
	}
	s.log.Info("province already seeded; reusing state", "province", province.ID, "state", s.cfg.StatePath,
		"devices", len(st.Devices))
	sum := Summary{Skipped: true, ProvinceID: province.ID, StatePath: s.cfg.StatePath,
		Devices: map[fleet.DeviceKind]map[fleet.DeviceStatus]int{}}
	for _, d := range st.Devices {
		sum.countDevice(d.Kind, d.Status)
	}
	return sum, nil
}

func (sum *Summary) countDevice(k fleet.DeviceKind, st fleet.DeviceStatus) {
	if sum.Devices[k] == nil {
		sum.Devices[k] = map[fleet.DeviceStatus]int{}
	}
	sum.Devices[k][st]++
}

// create puts plan into the service, phase by phase: units top down,
// officers, devices (whose secrets are saved at once), check-outs, status
// changes, users.
func (s *Seeder) create(ctx context.Context, plan Plan) (Summary, error) {
	sum := Summary{Units: map[fleet.UnitLevel]int{}, Officers: map[Profile]int{},
		Devices: map[fleet.DeviceKind]map[fleet.DeviceStatus]int{}, DemoPassword: s.cfg.DemoPassword,
		StatePath: s.cfg.StatePath}

	unitIDs, err := s.createUnits(ctx, plan.Units)
	if err != nil {
		return sum, err
	}
	sum.ProvinceID = unitIDs[ProvinceCode]
	for _, u := range plan.Units {
		sum.Units[u.Level]++
	}

	officerIDs, err := s.createOfficers(ctx, plan.Officers, unitIDs)
	if err != nil {
		return sum, err
	}
	for _, o := range plan.Officers {
		sum.Officers[o.Profile]++
		if o.State("").Eligible(plan.Options.Today) {
			sum.Eligible++
		}
	}

	state := State{API: s.cfg.API, ProvinceCode: ProvinceCode, ProvinceID: sum.ProvinceID, Seed: plan.Options.Seed,
		SeededAt: time.Now().UTC()}
	devices, err := s.createDevices(ctx, plan.Devices, unitIDs)
	if err != nil {
		return sum, err
	}
	for i, d := range plan.Devices {
		state.Devices = append(state.Devices, StateDevice{ID: devices[i].ID, Kind: d.Kind, Serial: d.Serial, Firmware: d.Firmware,
			UnitCode: d.UnitCode, Status: fleet.StatusInStock, MQTTSecret: devices[i].MQTTSecret, MMSI: d.MMSI,
			RTSPURL: d.RTSPURL})
	}
	// The secrets were shown once: keep them before anything else can fail.
	if err := SaveState(s.cfg.StatePath, state); err != nil {
		return sum, err
	}

	if err := s.assign(ctx, plan.Devices, devices, officerIDs); err != nil {
		return sum, err
	}
	for i, d := range plan.Devices {
		state.Devices[i].Status, state.Devices[i].Holder = d.Status, ""
		if d.Status == fleet.StatusAssigned {
			state.Devices[i].Holder = d.Holder
		}
		sum.countDevice(d.Kind, d.Status)
	}

	if err := s.createUsers(ctx, plan.Users, unitIDs, officerIDs); err != nil {
		return sum, err
	}
	sum.Users = plan.Users
	for _, u := range plan.Users {
		state.Users = append(state.Users, u.Username)
	}
	state.Complete = true
	return sum, SaveState(s.cfg.StatePath, state)
}

// each runs fn over items with at most s.cfg.Concurrency calls at once,
// and stops at the first error.
func each[T any](ctx context.Context, s *Seeder, items []T, fn func(ctx context.Context, i int, item T) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Concurrency)
	for i, it := range items {
		g.Go(func() error { return fn(ctx, i, it) })
	}
	return g.Wait()
}

// createUnits creates the units level by level, so that each parent exists
// before its children, and returns their ids by code.
func (s *Seeder) createUnits(ctx context.Context, units []UnitPlan) (map[string]string, error) {
	t := time.Now()
	ids := map[string]string{}
	var mu sync.Mutex
	for _, level := range []fleet.UnitLevel{fleet.LevelProvince, fleet.LevelCity, fleet.LevelCounty, fleet.LevelStation} {
		var batch []UnitPlan
		for _, u := range units {
			if u.Level == level {
				batch = append(batch, u)
			}
		}
		err := each(ctx, s, batch, func(ctx context.Context, _ int, u UnitPlan) error {
			mu.Lock()
			parent := ids[u.ParentCode]
			mu.Unlock()
			got, err := s.api.CreateUnit(ctx, fleet.UnitInput{ParentID: parent, Code: u.Code, Name: u.Name, Level: u.Level})
			if err != nil {
				return fmt.Errorf("create unit %s %s: %w", u.Code, u.Name, err)
			}
			mu.Lock()
			ids[u.Code] = got.ID
			mu.Unlock()
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	s.log.Info("units created", "count", len(units), "took", time.Since(t).Round(time.Millisecond))
	return ids, nil
}

// createOfficers imports the roster as one CSV file when the service has
// the import route, else creates officers one by one, and returns their
// ids by badge number.
func (s *Seeder) createOfficers(ctx context.Context, officers []Officer, unitIDs map[string]string) (map[string]string, error) {
	t := time.Now()
	ids, err := s.importOfficers(ctx, officers, unitIDs)
	if st := fleetapi.Status(err); st == http.StatusNotFound || st == http.StatusMethodNotAllowed {
		s.log.Info("officer import not available; creating officers one by one", "err", err)
		ids, err = s.postOfficers(ctx, officers, unitIDs)
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("officers created", "count", len(officers), "took", time.Since(t).Round(time.Millisecond))
	return ids, nil
}

func (s *Seeder) importOfficers(ctx context.Context, officers []Officer, unitIDs map[string]string) (map[string]string, error) {
	res, err := s.api.ImportOfficers(ctx, "roster.csv", RosterCSV(officers))
	if err != nil {
		return nil, fmt.Errorf("import officers: %w", err)
	}
	if len(res.Errors) > 0 {
		var b strings.Builder
		for i, e := range res.Errors[:min(5, len(res.Errors))] {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "row %d %s: %s", e.Row, e.Field, e.Message)
		}
		return nil, fmt.Errorf("import officers: %d rows refused: %s", len(res.Errors), b.String())
	}
	if res.Created != len(officers) {
		return nil, fmt.Errorf("import officers: %d created of %d (%d updated): badge numbers already taken",
			res.Created, len(officers), res.Updated)
	}
	all, err := s.api.Officers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list officers: %w", err)
	}
	ids := make(map[string]string, len(all))
	for _, o := range all {
		ids[o.BadgeNo] = o.ID
	}
	for _, o := range officers {
		if ids[o.BadgeNo] == "" {
			return nil, fmt.Errorf("import officers: officer %s is not listed after the import", o.BadgeNo)
		}
	}
	return ids, nil
}

func (s *Seeder) postOfficers(ctx context.Context, officers []Officer, unitIDs map[string]string) (map[string]string, error) {
	ids := make([]string, len(officers))
	err := each(ctx, s, officers, func(ctx context.Context, i int, o Officer) error {
		got, err := s.api.CreateOfficer(ctx, o.Input(unitIDs[o.UnitCode]))
		if err != nil {
			return fmt.Errorf("create officer %s %s: %w", o.BadgeNo, o.Name, err)
		}
		ids[i] = got.ID
		return nil
	})
	if err != nil {
		return nil, err
	}
	byBadge := make(map[string]string, len(officers))
	for i, o := range officers {
		byBadge[o.BadgeNo] = ids[i]
	}
	return byBadge, nil
}

// RosterColumns are the officer import's columns, in order.
var RosterColumns = []string{"unit_code", "name", "badge_no", "frontline", "duty_status", "certificate_number",
	"issued_on", "expires_on", "annual_review_until", "status", "effective_on"}

// RosterCSV renders officers as an import file.
func RosterCSV(officers []Officer) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(RosterColumns)
	for _, o := range officers {
		c := o.Certificate
		w.Write([]string{o.UnitCode, o.Name, o.BadgeNo, fmt.Sprint(o.Frontline), string(o.DutyStatus), c.Number,
			c.IssuedOn.String(), c.ExpiresOn.String(), c.AnnualReviewUntil.String(), string(c.Status), o.EffectiveOn.String()})
	}
	w.Flush() // writes to a bytes.Buffer cannot fail
	return b.Bytes()
}

func (s *Seeder) createDevices(ctx context.Context, devices []Device, unitIDs map[string]string) ([]fleet.NewDevice, error) {
	t := time.Now()
	out := make([]fleet.NewDevice, len(devices))
	err := each(ctx, s, devices, func(ctx context.Context, i int, d Device) error {
		got, err := s.api.CreateDevice(ctx, fleet.DeviceInput{Kind: d.Kind, Serial: d.Serial, Model: d.Model,
			UnitID: unitIDs[d.UnitCode], FirmwareVersion: d.Firmware, RTSPURL: d.RTSPURL, MMSI: d.MMSI})
		if err != nil {
			return fmt.Errorf("create device %s: %w", d.Serial, err)
		}
		if got.ID == "" || got.MQTTSecret == "" {
			return fmt.Errorf("create device %s: the answer has no id or no mqtt_secret", d.Serial)
		}
		out[i] = got
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("devices created", "count", len(devices), "took", time.Since(t).Round(time.Millisecond))
	return out, nil
}

// assign checks recorders out to their holders, then moves devices to
// their final status: a recorder in repair or lost was with an officer
// first, so its history shows whose it was.
func (s *Seeder) assign(ctx context.Context, plan []Device, devices []fleet.NewDevice, officerIDs map[string]string) error {
	t := time.Now()
	var out, moved []int
	for i, d := range plan {
		if d.Holder != "" {
			out = append(out, i)
		}
		if d.Status != fleet.StatusAssigned && d.Status != fleet.StatusInStock {
			moved = append(moved, i)
		}
	}
	err := each(ctx, s, out, func(ctx context.Context, _ int, i int) error {
		d := plan[i]
		if _, err := s.api.Checkout(ctx, devices[i].ID, fleet.CheckoutInput{OfficerID: officerIDs[d.Holder]}); err != nil {
			return fmt.Errorf("check out %s to %s: %w", d.Serial, d.Holder, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = each(ctx, s, moved, func(ctx context.Context, _ int, i int) error {
		d := plan[i]
		status := d.Status
		if _, err := s.api.UpdateDevice(ctx, devices[i].ID, fleet.DevicePatch{Status: &status, Reason: d.Reason}); err != nil {
			return fmt.Errorf("set %s %s: %w", d.Serial, status, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Info("devices assigned", "checkouts", len(out), "status_changes", len(moved),
		"took", time.Since(t).Round(time.Millisecond))
	return nil
}

// createUsers creates the demo users one at a time: the service hashes
// each password slowly on purpose, and in parallel they would only queue
// for its CPU and risk the client's timeout.
func (s *Seeder) createUsers(ctx context.Context, users []User, unitIDs, officerIDs map[string]string) error {
	t := time.Now()
	for _, u := range users {
		in := fleet.UserInput{Username: u.Username, Password: s.cfg.DemoPassword, Name: u.Name, Role: u.Role,
			UnitID: unitIDs[u.UnitCode], OfficerID: officerIDs[u.Officer]}
		if _, err := s.api.CreateUser(ctx, in); err != nil {
			return fmt.Errorf("create user %s: %w", u.Username, err)
		}
	}
	s.log.Info("users created", "count", len(users), "took", time.Since(t).Round(time.Millisecond))
	return nil
}
