package fleet_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/blobstore/disk"
	"github.com/lawfleet/fleet/fleet/blobstore/s3"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
	"github.com/lawfleet/fleet/internal/testenv"
)

// TestIngestFile hands the vault a received file by path: the disk store
// adopts it (the file moves into the store), the S3 store is sent its
// bytes through Put (the file stays for the caller to remove).
func TestIngestFile(t *testing.T) {
	ctx := context.Background()
	diskStore := func(t *testing.T) fleet.BlobStore {
		s, err := disk.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s3Store := func(t *testing.T) fleet.BlobStore {
		gw := testenv.StartS3(t)
		s, err := s3.New(ctx, s3.Config{Endpoint: gw.Endpoint, AccessKey: gw.AccessKey, SecretKey: gw.SecretKey,
			Bucket: "evidence", PartSize: 5 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		store    func(*testing.T) fleet.BlobStore
		fileKept bool
	}{
		{"disk", diskStore, false},
		{"s3", s3Store, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blobs := tc.store(t)
			f := newFixture(t, sqltest.SQLite(t), blobs)
			body, sum := randomBody(200_000)
			path := filepath.Join(t.TempDir(), "VID_1.mp4.part")
			if err := os.WriteFile(path, body, 0o640); err != nil {
				t.Fatal(err)
			}
			meta := fleet.FileMeta{Name: "VID_1.mp4", StartAt: time.Now().Add(-time.Hour)}

			// A wrong size is refused by both, before anything is recorded.
			_, _, err := f.vault.IngestFile(ctx, f.station.DockStation, f.offload.ID, meta, sum, int64(len(body))+1, path)
			if !fleet.HashMismatch(err) {
				t.Fatalf("wrong size: %v", err)
			}
			if _, err := f.vault.StoredFile(ctx, sum); fleet.ErrorCode(err) != fleet.ENOTFOUND {
				t.Fatalf("refused file recorded: %v", err)
			}

			it, created, err := f.vault.IngestFile(ctx, f.station.DockStation, f.offload.ID, meta, sum, int64(len(body)), path)
			if err != nil || !created || it.SHA256 != sum {
				t.Fatalf("ingest: %+v %v %v", it, created, err)
			}
			if _, err := os.Stat(path); (err == nil) != tc.fileKept {
				t.Errorf("file at path after ingest: %v (kept expected: %v)", err, tc.fileKept)
			}
			b, err := blobs.Open(ctx, sum)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(b)
			b.Close()
			if !bytes.Equal(got, body) {
				t.Errorf("stored %d bytes, not the file", len(got))
			}
		})
	}
}

// vanishingStore is the real disk store with the orphan sweep's removal
// injected between storing a file and recording its item, the race the
// vault's re-check in the recording transaction closes.
type vanishingStore struct{ *disk.Store }

func (s vanishingStore) Put(ctx context.Context, sum string, size int64, r io.Reader) error {
	if err := s.Store.Put(ctx, sum, size, r); err != nil {
		return err
	}
	return s.Store.Delete(ctx, sum)
}

func TestIngestRefusesFileRemovedBeforeCommit(t *testing.T) {
	ctx := context.Background()
	d, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, sqltest.SQLite(t), vanishingStore{d})
	body, sum := randomBody(1000)
	_, _, err = f.vault.Ingest(ctx, f.station.DockStation, f.offload.ID,
		fleet.FileMeta{Name: "VID_2.mp4", StartAt: time.Now().Add(-time.Hour)}, sum, int64(len(body)), bytes.NewReader(body))
	if fleet.ErrorCode(err) != fleet.EUNAVAILABLE {
		t.Fatalf("ingest of a file removed meanwhile: %v", err)
	}
	if _, err := f.vault.StoredFile(ctx, sum); fleet.ErrorCode(err) != fleet.ENOTFOUND {
		t.Errorf("an item without its file was recorded: %v", err)
	}
}
