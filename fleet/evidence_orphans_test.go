package fleet_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/blobstore/disk"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
)

func randomBody(n int) ([]byte, string) {
	b := make([]byte, n)
	rand.Read(b)
	h := sha256.Sum256(b)
	return b, hex.EncodeToString(h[:])
}

// TestOrphanFiles stores files of a live item, a held item and a deleted
// item whose file removal failed, plus files with no item at all, old and
// fresh; the orphan sweep removes exactly the old unreferenced ones.
func TestOrphanFiles(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		blobs, err := disk.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		f := newFixture(t, db, blobs)
		vault, reg, admin, st, off := f.vault, f.reg, f.admin, f.station, f.offload
		ingest := func(name string) (fleet.EvidenceItem, []byte) {
			t.Helper()
			b, sum := randomBody(4096)
			it, created, err := vault.Ingest(ctx, st.DockStation, off.ID, fleet.FileMeta{Name: name, StartAt: time.Now().Add(-time.Hour)},
				sum, int64(len(b)), bytes.NewReader(b))
			if err != nil || !created {
				t.Fatalf("ingest %s: %v", name, err)
			}
			return it, b
		}
		put := func() string {
			t.Helper()
			b, sum := randomBody(1000)
			if err := blobs.Put(ctx, sum, int64(len(b)), bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
			return sum
		}
		live, _ := ingest("live.mp4")
		held, _ := ingest("held.mp4")
		if _, err := vault.Hold(ctx, admin, held.ID, "行政复议"); err != nil {
			t.Fatal(err)
		}
		deleted, dbody := ingest("deleted.mp4")
		if _, err := vault.Delete(ctx, admin, deleted.ID, "误录"); err != nil {
			t.Fatal(err)
		}
		// The deletion's file removal "failed": the file is back.
		if err := blobs.Put(ctx, deleted.SHA256, int64(len(dbody)), bytes.NewReader(dbody)); err != nil {
			t.Fatal(err)
		}
		oldOrphan, freshOrphan := put(), put()
		twoDays := time.Now().Add(-48 * time.Hour)
		for _, sum := range []string{live.SHA256, held.SHA256, deleted.SHA256, oldOrphan} {
			if err := os.Chtimes(blobs.Path(sum), twoDays, twoDays); err != nil {
				t.Fatal(err)
			}
		}

		var logs bytes.Buffer
		var counted []string
		sweep := fleet.NewOrphanSweep(vault, time.Hour, 24*time.Hour, func(b fleet.BlobInfo) { counted = append(counted, b.SHA256) },
			slog.New(slog.NewTextHandler(&logs, nil)))
		if err := sweep.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		slices.Sort(counted)
		want := []string{deleted.SHA256, oldOrphan}
		slices.Sort(want)
		if !slices.Equal(counted, want) {
			t.Fatalf("removed %v, want %v (deleted item's and the old orphan)", counted, want)
		}
		for sum, keep := range map[string]bool{live.SHA256: true, held.SHA256: true, freshOrphan: true, deleted.SHA256: false, oldOrphan: false} {
			_, err := blobs.Stat(ctx, sum)
			if keep && err != nil {
				t.Errorf("%s removed: %v", sum[:8], err)
			} else if !keep && fleet.ErrorCode(err) != fleet.ENOTFOUND {
				t.Errorf("%s kept: %v", sum[:8], err)
			}
		}
		if !strings.Contains(logs.String(), "orphan evidence file removed") || !strings.Contains(logs.String(), oldOrphan) {
			t.Errorf("sweep log:\n%s", logs.String())
		}
		// Each removal is in the audit log as the system's.
		entries, _, err := reg.Audit(ctx, admin, fleet.AuditFilter{Entity: "evidence_file", Page: fleet.Page{Limit: 10}})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 || entries[0].ActorID != "system" || entries[0].Action != "evidence.orphan_delete" {
			t.Errorf("audit = %+v", entries)
		}
		// Every live item still has its file.
		rep, err := vault.Verify(ctx, admin, fleet.VerifyOptions{})
		if err != nil || !rep.OK || rep.Items != 2 {
			t.Errorf("verify after the sweep: %+v, %v", rep, err)
		}
		// Nothing left to do; a shorter grace reaches the fresh one.
		if n, err := vault.RemoveOrphanFiles(ctx, 0, nil); err != nil || n != 0 {
			t.Errorf("second sweep: %d, %v", n, err)
		}
		if err := os.Chtimes(blobs.Path(freshOrphan), time.Now().Add(-2*time.Minute), time.Now().Add(-2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if n, err := vault.RemoveOrphanFiles(ctx, time.Minute, nil); err != nil || n != 1 {
			t.Errorf("sweep with a one-minute grace: %d, %v", n, err)
		}
	})
}

// fixture is a vault over a register with a unit, a recorder, a station
// and an open offload.
type fixture struct {
	vault   *fleet.Vault
	reg     *fleet.Register
	admin   fleet.User
	station fleet.NewDockStation
	offload fleet.Offload
}

func newFixture(t *testing.T, db *sqlstore.DB, blobs fleet.BlobStore) fixture {
	t.Helper()
	ctx := context.Background()
	const pw = "orphan-test-password"
	reg := fleet.NewRegister(db, nil)
	if _, err := reg.Bootstrap(ctx, pw); err != nil {
		t.Fatal(err)
	}
	_, admin, err := reg.Login(ctx, "admin", pw)
	if err != nil {
		t.Fatal(err)
	}
	unit, err := reg.CreateUnit(ctx, admin, fleet.UnitInput{Code: "ORPH", Name: "测试总队", Level: fleet.LevelProvince})
	if err != nil {
		t.Fatal(err)
	}
	nd, err := reg.CreateDevice(ctx, admin, fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "REC-ORPH", Model: "DSJ", UnitID: unit.ID})
	if err != nil {
		t.Fatal(err)
	}
	vault, err := fleet.NewVault(db, blobs, fleet.RetentionPolicy{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := vault.RegisterDockStation(ctx, admin, fleet.DockStationInput{Name: "采集站", UnitID: unit.ID})
	if err != nil {
		t.Fatal(err)
	}
	off, err := vault.OpenOffload(ctx, st.DockStation, nd.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	return fixture{vault: vault, reg: reg, admin: admin, station: st, offload: off}
}
