package disk_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/blobstore/blobtest"
	"github.com/lawfleet/fleet/fleet/blobstore/disk"
)

func TestContract(t *testing.T) {
	s, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blobtest.Run(t, s)
}

// spoolFile writes a received file as the dock spool leaves it, a day
// old, and returns its path, bytes and SHA-256.
func spoolFile(t *testing.T, dir string, n int) (string, []byte, string) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	h := sha256.Sum256(b)
	p := filepath.Join(dir, hex.EncodeToString(h[:4])+".part")
	if err := os.WriteFile(p, b, 0o640); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-24 * time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	return p, b, hex.EncodeToString(h[:])
}

func checkStored(t *testing.T, s *disk.Store, sum string, want []byte) os.FileInfo {
	t.Helper()
	got, err := os.ReadFile(s.Path(sum))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("stored file: %v (%d bytes, want %d)", err, len(got), len(want))
	}
	fi, err := os.Stat(s.Path(sum))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o440 {
		t.Errorf("stored file mode %v, want read-only", fi.Mode().Perm())
	}
	// Its time is when it was stored, not when the bytes arrived.
	if time.Since(fi.ModTime()) > time.Hour {
		t.Errorf("stored file's time %v is the spool's", fi.ModTime())
	}
	return fi
}

func gone(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("%s is still there: %v", p, err)
	}
}

func TestAdoptFile(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := disk.New(filepath.Join(root, "store"))
	if err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(root, "spool")
	if err := os.Mkdir(spool, 0o750); err != nil {
		t.Fatal(err)
	}

	// Adopted by rename: the very inode moves, no byte is copied.
	p, body, sum := spoolFile(t, spool, 200_000)
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AdoptFile(ctx, sum, int64(len(body)), p); err != nil {
		t.Fatalf("adopt: %v", err)
	}
	gone(t, p)
	stored := checkStored(t, s, sum, body)
	if !os.SameFile(before, stored) {
		t.Error("the file was copied, not renamed")
	}
	if n, err := s.Stat(ctx, sum); err != nil || n != int64(len(body)) {
		t.Errorf("stat = %d, %v", n, err)
	}

	// The same file again (a second station): the spool copy goes, the
	// stored one stays as it was.
	again := filepath.Join(spool, "again.part")
	if err := os.WriteFile(again, body, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := s.AdoptFile(ctx, sum, int64(len(body)), again); err != nil {
		t.Fatalf("adopt again: %v", err)
	}
	gone(t, again)
	if after := checkStored(t, s, sum, body); !os.SameFile(after, stored) {
		t.Error("adopting a stored file replaced it")
	}

	// A file of another length than declared is refused and left alone.
	short, sbody, ssum := spoolFile(t, spool, 1000)
	err = s.AdoptFile(ctx, ssum, int64(len(sbody))+1, short)
	if !fleet.HashMismatch(err) || fleet.ErrorField(err) != "size_bytes" {
		t.Fatalf("adopt with a wrong size: %v", err)
	}
	if _, err := os.Stat(short); err != nil {
		t.Errorf("a refused file was removed: %v", err)
	}
	if _, err := s.Stat(ctx, ssum); fleet.ErrorCode(err) != fleet.ENOTFOUND {
		t.Errorf("a refused file was stored: %v", err)
	}
	if err := s.AdoptFile(ctx, ssum, int64(len(sbody)), filepath.Join(spool, "missing.part")); err == nil {
		t.Error("adopted a missing file")
	}
	if err := s.AdoptFile(ctx, "abc", 3, short); fleet.ErrorCode(err) != fleet.EINVALID {
		t.Errorf("adopt under a bad hash: %v", err)
	}
}

// TestAdoptFileAcrossFilesystems takes the copy path: forced on one
// filesystem, and for real from /dev/shm (tmpfs) when the machine has it
// on another device than the temporary directory.
func TestAdoptFileAcrossFilesystems(t *testing.T) {
	ctx := context.Background()
	t.Run("forced", func(t *testing.T) {
		root := t.TempDir()
		s, err := disk.New(filepath.Join(root, "store"))
		if err != nil {
			t.Fatal(err)
		}
		disk.ForceCopy(s)
		p, body, sum := spoolFile(t, root, 300_000)
		before, _ := os.Stat(p)
		if err := s.AdoptFile(ctx, sum, int64(len(body)), p); err != nil {
			t.Fatalf("adopt: %v", err)
		}
		gone(t, p)
		if stored := checkStored(t, s, sum, body); os.SameFile(before, stored) {
			t.Error("renamed although renames fail")
		}
		// The copy hashes again: bytes that are not sum are refused, the
		// spool file is kept for the caller to discard.
		bad, bbody, _ := spoolFile(t, root, 5000)
		_, _, osum := spoolFile(t, root, 5000)
		err = s.AdoptFile(ctx, osum, int64(len(bbody)), bad)
		if !fleet.HashMismatch(err) {
			t.Fatalf("copy of mismatched bytes: %v", err)
		}
		if _, err := s.Stat(ctx, osum); fleet.ErrorCode(err) != fleet.ENOTFOUND {
			t.Errorf("mismatched bytes stored: %v", err)
		}
		if _, err := os.Stat(bad); err != nil {
			t.Errorf("refused spool file removed: %v", err)
		}
	})
	t.Run("tmpfs", func(t *testing.T) {
		root := t.TempDir()
		var a, b syscall.Stat_t
		if syscall.Stat(root, &a) != nil || syscall.Stat("/dev/shm", &b) != nil || a.Dev == b.Dev {
			t.Skip("no /dev/shm on another filesystem")
		}
		shm, err := os.MkdirTemp("/dev/shm", "adopt-")
		if err != nil {
			t.Skip(err)
		}
		t.Cleanup(func() { os.RemoveAll(shm) })
		s, err := disk.New(filepath.Join(root, "store"))
		if err != nil {
			t.Fatal(err)
		}
		p, body, sum := spoolFile(t, shm, 100_000)
		if err := s.AdoptFile(ctx, sum, int64(len(body)), p); err != nil {
			t.Fatalf("adopt across filesystems: %v", err)
		}
		gone(t, p)
		checkStored(t, s, sum, body)
	})
}

func TestListBlobsSkipsForeignFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("evidence")
	h := sha256.Sum256(body)
	sum := hex.EncodeToString(h[:])
	if err := s.Put(ctx, sum, int64(len(body)), bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	// A write in progress, files named like a sum but in the wrong
	// place, and a stray file are not stored files.
	for _, p := range []string{
		filepath.Join(dir, "tmp", sum[:16]+"-1.part"),
		filepath.Join(dir, "tmp", sum),
		filepath.Join(dir, sum),
		filepath.Join(dir, sum[:2], sum[2:4], "README"),
	} {
		if err := os.WriteFile(p, body, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	var got []fleet.BlobInfo
	if err := s.ListBlobs(ctx, func(b fleet.BlobInfo) error { got = append(got, b); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].SHA256 != sum || got[0].SizeBytes != int64(len(body)) {
		t.Errorf("listed %+v", got)
	}
}
