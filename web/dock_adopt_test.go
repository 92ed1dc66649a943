package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
)

// TestDockOffloadAdoptsSpoolFile sends a file in two pieces, as a
// resuming station does, and checks that the disk store took the spool's
// file itself (the same inode: renamed, not copied a second time), that
// the stored bytes are the upload, and that nothing stays in the spool.
func TestDockOffloadAdoptsSpoolFile(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		v := newVaultEnv(t, db)
		spool := v.server.ev.Spool
		o := v.openOffload(t)
		body, sum := randomFile(t, 400_000)
		const name = "VID_0042.mp4"
		path := "/api/v1/dock/offloads/" + o.ID + "/files/" + name
		half := len(body) / 2

		r := v.fromStation(t, http.MethodPut, path, body[:half],
			withRange(fileHeaders(sum), fmt.Sprintf("bytes 0-%d/%d", half-1, len(body))))
		if r.status != http.StatusAccepted {
			t.Fatalf("first piece: %d %s", r.status, r.body)
		}
		spoolPath, err := spool.Path(o.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		partial, err := os.Stat(spoolPath)
		if err != nil {
			t.Fatalf("spool file after the first piece: %v", err)
		}

		r = v.fromStation(t, http.MethodPut, path, body[half:],
			withRange(fileHeaders(sum), fmt.Sprintf("bytes %d-%d/%d", half, len(body)-1, len(body))))
		if r.status != http.StatusCreated {
			t.Fatalf("last piece: %d %s", r.status, r.body)
		}
		var us UploadStatus
		mustJSON(t, r.body, &us)
		if !us.Confirmed || us.Item == nil || us.Item.SHA256 != sum || us.Item.SizeBytes != int64(len(body)) {
			t.Fatalf("answer: %s", r.body)
		}

		stored, err := os.ReadFile(v.blobs.Path(sum))
		if err != nil || !bytes.Equal(stored, body) {
			t.Fatalf("stored file: %v, %d bytes", err, len(stored))
		}
		fi, err := os.Stat(v.blobs.Path(sum))
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(partial, fi) {
			t.Error("the stored file is a copy of the spool's, not the spool's file")
		}
		if fi.Mode().Perm() != 0o440 {
			t.Errorf("stored file mode %v", fi.Mode().Perm())
		}
		if _, err := os.Stat(spoolPath); !os.IsNotExist(err) {
			t.Errorf("spool file still there: %v", err)
		}
		if _, err := os.Stat(filepath.Dir(spoolPath)); !os.IsNotExist(err) {
			t.Errorf("offload's spool directory still there: %v", err)
		}
		if _, err := spool.Status(o.ID, name); fleet.ErrorCode(err) != fleet.ENOTFOUND {
			t.Errorf("spool status after storing: %v", err)
		}

		// HEAD now answers from the vault, and the verifier re-hashes the
		// adopted file and finds it whole.
		h := v.fromStation(t, http.MethodHead, path, nil, map[string]string{HeaderContentSHA256: sum})
		if h.status != http.StatusOK || h.header.Get(HeaderEvidenceID) != us.Item.ID {
			t.Errorf("HEAD after storing: %d %v", h.status, h.header)
		}
		var rep fleet.VerifyReport
		v.admin.mustDo(t, http.MethodPost, "/api/v1/evidence/verify", nil, http.StatusOK, &rep)
		if !rep.OK || rep.Items != 1 || rep.BytesHashed != int64(len(body)) {
			t.Errorf("verify: %+v", rep)
		}
		if _, err := v.blobs.Stat(context.Background(), sum); err != nil {
			t.Error(err)
		}
	})
}
