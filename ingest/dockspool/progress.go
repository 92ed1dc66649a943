package dockspool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

// Progress is what the spool holds of one file of an offload, for the
// dock page: read only, it never changes an upload.
type Progress struct {
	Name     string
	Size     int64
	SHA256   string
	Received int64 // checkpointed: where a resume starts
	// OnDisk is the data file's length now. While a request is writing
	// it runs ahead of Received; after a crash it may too, until the
	// next Write cuts the unsynced tail.
	OnDisk    int64
	Writing   bool      // a request is sending or storing this file now
	UpdatedAt time.Time // the data file's last change
}

// Progress lists the files of an offload that are in the spool, by name:
// those begun and not yet stored in the vault or refused. An offload with
// nothing in the spool has an empty list.
func (s *Spool) Progress(offloadID string) ([]Progress, error) {
	if !offloadPattern.MatchString(offloadID) {
		return nil, fleet.Invalid("id", "not an offload id")
	}
	entries, err := os.ReadDir(filepath.Join(s.dir, offloadID))
	if errors.Is(err, fs.ErrNotExist) {
		return []Progress{}, nil
	} else if err != nil {
		return nil, fmt.Errorf("dock spool: %w", err)
	}
	out := []Progress{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue // data files, and checkpoints being replaced (.tmp)
		}
		data, meta, err := s.paths(offloadID, name)
		if err != nil {
			continue // not a name this spool writes
		}
		u, err := readMeta(meta)
		if fleet.ErrorCode(err) == fleet.ENOTFOUND {
			continue // stored or discarded since the listing
		} else if err != nil {
			return nil, err
		}
		p := Progress{Name: u.Name, Size: u.Size, SHA256: u.SHA256, Received: u.Received, OnDisk: u.Received}
		if fi, err := os.Stat(data); err == nil {
			p.OnDisk, p.UpdatedAt = fi.Size(), fi.ModTime()
		}
		s.mu.Lock()
		p.Writing = s.busy[offloadID+"/"+name]
		s.mu.Unlock()
		out = append(out, p)
	}
	return out, nil
}
