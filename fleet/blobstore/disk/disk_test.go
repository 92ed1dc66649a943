package disk_test

import (
	"testing"

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
