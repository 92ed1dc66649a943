package seed

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/lawfleet/fleet/devices/sim/fleetapi"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
	"github.com/lawfleet/fleet/web"
)

const adminPassword = "password123"

// service starts the real fleet service in-process on store and returns
// its register and base URL.
func service(t *testing.T, store fleet.Store) (*fleet.Register, *httptest.Server) {
	t.Helper()
	reg := fleet.NewRegister(store, nil)
	if _, err := reg.Bootstrap(t.Context(), adminPassword); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.New(web.Config{}, web.Deps{Register: reg}).Handler())
	t.Cleanup(srv.Close)
	return reg, srv
}

func testConfig(t *testing.T, api string, officers int) Config {
	return Config{API: api, User: "admin", Password: adminPassword,
		StatePath: filepath.Join(t.TempDir(), "state.json"), DemoPassword: "demo-pass-2026",
		Concurrency: 8, ReadyTimeout: 10 * time.Second,
		Options: Options{Seed: 1, Officers: officers, Today: fleet.DateOf(time.Now()), RTSPAddr: "127.0.0.1:8554"}}
}

func seedOnce(t *testing.T, cfg Config) (Summary, error) {
	t.Helper()
	api, err := fleetapi.New(cfg.API, nil)
	if err != nil {
		t.Fatal(err)
	}
	return New(api, cfg, slog.New(slog.NewTextHandler(t.Output(), nil))).Seed(t.Context())
}

// TestSeed seeds a small province into the real service and reads it back
// through the API as an operator would, then seeds again.
func TestSeed(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, store *sqlstore.DB) {
		reg, srv := service(t, store)
		cfg := testConfig(t, srv.URL, 40)
		plan := Generate(cfg.Options)

		sum, err := seedOnce(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Skipped || sum.Eligible == 0 || sum.Eligible == len(plan.Officers) {
			t.Fatalf("summary %+v: want a fresh seed with some eligible officers", sum)
		}
		api, err := fleetapi.New(srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		if err := api.Login(ctx, "admin", adminPassword); err != nil {
			t.Fatal(err)
		}
		before := checkRegister(t, ctx, api, plan)

		// The state file holds working MQTT credentials of every device.
		st, err := LoadState(cfg.StatePath)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Complete || len(st.Devices) != len(plan.Devices) || st.ProvinceID != sum.ProvinceID {
			t.Fatalf("state: complete %v, %d devices, province %s", st.Complete, len(st.Devices), st.ProvinceID)
		}
		for _, d := range st.Devices {
			if d.Status == fleet.StatusRetired {
				continue // refused by design
			}
			if _, err := reg.AuthenticateDevice(ctx, d.ID, d.MQTTSecret); err != nil {
				t.Errorf("device %s (%s) cannot authenticate with its saved secret: %v", d.ID, d.Status, err)
			}
		}

		// A demo user signs in with the demo password and sees only its unit.
		demo, err := fleetapi.New(srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := demo.Login(ctx, "wh_county_manager", cfg.DemoPassword); err != nil {
			t.Fatalf("demo user: %v", err)
		}
		if units, err := demo.Units(ctx); err != nil || len(units) == 0 || len(units) >= len(plan.Units) {
			t.Errorf("county manager sees %d of %d units (%v)", len(units), len(plan.Units), err)
		}

		// Seeding again finds the province and changes nothing.
		again, err := seedOnce(t, cfg)
		if err != nil {
			t.Fatalf("second seed: %v", err)
		}
		if !again.Skipped || again.ProvinceID != sum.ProvinceID {
			t.Fatalf("second seed %+v: want skipped", again)
		}
		if after := checkRegister(t, ctx, api, plan); after != before {
			t.Errorf("second seed changed the register: %+v, then %+v", before, after)
		}
		if users, err := api.Users(ctx); err != nil || len(users) != 1+len(plan.Users) {
			t.Errorf("%d users after two seeds, want %d (%v)", len(users), 1+len(plan.Users), err)
		}

		// Without its state file, a seeded province is refused, not re-seeded.
		cfg.StatePath = filepath.Join(t.TempDir(), "other.json")
		if _, err := seedOnce(t, cfg); err == nil {
			t.Error("seeding a seeded province without its state file succeeded")
		}
	})
}

type counts struct{ units, officers, devices, open int }

// checkRegister reads the register back through the API and checks the
// tree, the officers' mix and the devices' statuses.
func checkRegister(t *testing.T, ctx context.Context, api *fleetapi.Client, plan Plan) counts {
	t.Helper()
	units, err := api.Units(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]fleet.Unit{}
	for _, u := range units {
		byID[u.ID] = u
	}
	levels := map[fleet.UnitLevel]int{}
	for _, u := range units {
		levels[u.Level]++
		if u.Level == fleet.LevelProvince {
			continue
		}
		if p, ok := byID[u.ParentID]; !ok || p.Level.Depth() != u.Level.Depth()-1 {
			t.Errorf("%s %s (%s) sits under %+v", u.Level, u.Code, u.Name, p)
		}
	}
	if levels[fleet.LevelProvince] != 1 || levels[fleet.LevelCity] != 4 || levels[fleet.LevelCounty] < 8 ||
		levels[fleet.LevelStation] < levels[fleet.LevelCounty] || len(units) != len(plan.Units) {
		t.Errorf("units per level %v (%d), want 1 province, 4 cities, 2–3 counties each, 1–3 stations each", levels, len(units))
	}

	officers, err := api.Officers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	today := fleet.DateOf(time.Now())
	reasons := map[string]int{}
	for _, o := range officers {
		reasons[o.Ineligible(today)]++
	}
	if len(officers) != len(plan.Officers) || reasons[""] == 0 || reasons[""] == len(officers) {
		t.Errorf("%d officers by ineligibility: %v; want %d, mixed", len(officers), reasons, len(plan.Officers))
	}
	for _, r := range []string{fleet.ReasonCertExpired, fleet.ReasonReviewLapsed, fleet.ReasonCertSuspended,
		fleet.ReasonTransferredOut, fleet.ReasonRetired, fleet.ReasonLongLeave, fleet.ReasonNotFrontline, fleet.ReasonNoCertificate} {
		if reasons[r] == 0 {
			t.Errorf("no officer is ineligible for %s: %v", r, reasons)
		}
	}

	devices, err := api.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[fleet.DeviceStatus]int{}
	kinds := map[fleet.DeviceKind]int{}
	for _, d := range devices {
		statuses[d.Status]++
		kinds[d.Kind]++
	}
	for _, s := range []fleet.DeviceStatus{fleet.StatusInStock, fleet.StatusAssigned, fleet.StatusInRepair, fleet.StatusLost, fleet.StatusRetired} {
		if statuses[s] == 0 {
			t.Errorf("no device is %s: %v", s, statuses)
		}
	}
	if len(devices) != len(plan.Devices) || kinds[fleet.KindVehicleTerminal] == 0 || kinds[fleet.KindAISUnit] == 0 {
		t.Errorf("%d devices %v, want %d of every kind", len(devices), kinds, len(plan.Devices))
	}
	open, err := api.Assignments(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != statuses[fleet.StatusAssigned] {
		t.Errorf("%d open assignments, %d assigned recorders", len(open), statuses[fleet.StatusAssigned])
	}
	all, err := api.Assignments(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(open)+statuses[fleet.StatusLost]+countKind(devices, fleet.KindRecorder, fleet.StatusInRepair) {
		t.Errorf("%d assignments in all: lost and repaired recorders should have had one each", len(all))
	}
	return counts{len(units), len(officers), len(devices), len(open)}
}

func countKind(ds []fleet.Device, k fleet.DeviceKind, s fleet.DeviceStatus) int {
	n := 0
	for _, d := range ds {
		if d.Kind == k && d.Status == s {
			n++
		}
	}
	return n
}

// TestSeedWaitsForService starts the seed before the service listens:
// it retries until the service is up.
func TestSeedWaitsForService(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	reg := fleet.NewRegister(sqltest.SQLite(t), nil)
	if _, err := reg.Bootstrap(t.Context(), adminPassword); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "http://"+addr, 30)
	done := make(chan error, 1)
	go func() {
		_, err := seedOnce(t, cfg)
		done <- err
	}()
	time.Sleep(1500 * time.Millisecond) // the seeder meets a closed port meanwhile
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	srv := &http.Server{Handler: web.New(web.Config{}, web.Deps{Register: reg}).Handler()}
	go srv.Serve(l)
	defer srv.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("seed did not finish")
	}
}
