package sqlfirmware

import (
	"log/slog"
	"testing"
	"time"

	"github.com/lawfleet/fleet/firmware"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
)

// TestStore runs the same checks on every database the register supports.
func TestStore(t *testing.T) {
	for name, dsn := range map[string]func(testing.TB) string{"sqlite": sqltest.SQLiteDSN, "postgres": sqltest.PostgresDSN} {
		t.Run(name, func(t *testing.T) {
			db, err := sqlstore.Open(t.Context(), dsn(t), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			testStore(t, New(db))
		})
	}
}

func testStore(t *testing.T, s *Store) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	img := firmware.Image{ID: fleet.NewID("fwi"), Model: "DSJ-A8", Version: "2.0", SizeBytes: 10, SHA256: "ab",
		Signature: "sig", KeyID: "k", ReleaseNotes: "修复", UploadedBy: "usr_1", UploadedAt: now}
	if err := s.CreateImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	dup := img
	dup.ID = fleet.NewID("fwi")
	if err := s.CreateImage(ctx, dup); fleet.ErrorCode(err) != fleet.ECONFLICT {
		t.Fatalf("duplicate model/version: %v", err)
	}
	if got, err := s.Image(ctx, img.ID); err != nil || got != img {
		t.Fatalf("image %+v %v", got, err)
	}
	if _, err := s.Image(ctx, "fwi_none"); fleet.ErrorCode(err) != fleet.ENOTFOUND {
		t.Fatalf("missing image: %v", err)
	}
	for _, model := range []string{"", "DSJ-A8"} {
		if imgs, next, err := s.Images(ctx, model, fleet.Page{}); err != nil || len(imgs) != 1 || next != "" {
			t.Fatalf("images(%q): %v %q %v", model, imgs, next, err)
		}
	}
	if imgs, _, _ := s.Images(ctx, "other", fleet.Page{}); len(imgs) != 0 {
		t.Fatalf("images of another model: %v", imgs)
	}

	c := firmware.Campaign{ID: fleet.NewID("fwc"), Name: "A8", ImageID: img.ID, Model: "DSJ-A8", TargetVersion: "2.0",
		UnitID: "u1", UnitPath: "/p/u1/", Waves: []float64{1, 100}, SoakS: 60, MaxFailureRate: 0.1,
		State: firmware.CampaignRunning, CreatedAt: now, UpdatedAt: now, Version: 1}
	jobs := []firmware.Job{
		{ID: fleet.NewID("fwj"), CampaignID: c.ID, DeviceID: "dev_a", Wave: 0, State: firmware.JobPending, FromVersion: "1.0", UpdatedAt: now},
		{ID: fleet.NewID("fwj"), CampaignID: c.ID, DeviceID: "dev_b", Wave: 1, State: firmware.JobPending, FromVersion: "1.0", UpdatedAt: now},
	}
	if err := s.CreateCampaign(ctx, c, jobs); err != nil {
		t.Fatal(err)
	}
	got, err := s.Campaign(ctx, c.ID)
	if err != nil || got.UnitPath != c.UnitPath || got.Version != 1 || got.Waves[1] != 100 {
		t.Fatalf("campaign %+v %v", got, err)
	}
	for scope, want := range map[string]int{"": 1, "/p/": 1, "/p/u1/": 1, "/p/u2/": 0, "/q/": 0} {
		if cs, _, err := s.Campaigns(ctx, scope, fleet.Page{}); err != nil || len(cs) != want {
			t.Errorf("campaigns in %q: %d %v, want %d", scope, len(cs), err, want)
		}
	}
	got.State = firmware.CampaignHalted
	if err := s.UpdateCampaign(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateCampaign(ctx, got); fleet.ErrorCode(err) != fleet.ECONFLICT {
		t.Fatalf("stale update: %v", err)
	}
	if act, err := s.ActiveCampaigns(ctx); err != nil || len(act) != 1 || act[0].State != firmware.CampaignHalted || act[0].Version != 2 {
		t.Fatalf("active %+v %v", act, err)
	}

	j := jobs[0]
	j.State, j.TokenHash, j.Attempts, j.ProgressPct, j.UpdatedAt = firmware.JobDownloading, "th", 1, 42.5, now.Add(time.Second)
	if err := s.UpdateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if gj, err := s.Job(ctx, j.ID); err != nil || gj != j {
		t.Fatalf("job %+v %v, want %+v", gj, err, j)
	}
	if dj, err := s.DeviceJobs(ctx, "dev_a"); err != nil || len(dj) != 1 {
		t.Fatalf("device jobs %v %v", dj, err)
	}
	if dj, _ := s.DeviceJobs(ctx, "dev_b"); len(dj) != 0 {
		t.Fatalf("pending job counted as in flight: %v", dj)
	}
	if all, err := s.Jobs(ctx, c.ID); err != nil || len(all) != 2 || all[0].ID != j.ID {
		t.Fatalf("jobs %v %v", all, err)
	}
	if err := s.UpdateJob(ctx, firmware.Job{ID: "fwj_none"}); fleet.ErrorCode(err) != fleet.ENOTFOUND {
		t.Fatalf("missing job: %v", err)
	}
}
