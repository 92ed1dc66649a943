package disk

import (
	"os"
	"syscall"
)

// ForceCopy makes s's renames fail as across filesystems, so that tests
// reach AdoptFile's copy fallback on one filesystem.
func ForceCopy(s *Store) {
	s.rename = func(oldpath, newpath string) error {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EXDEV}
	}
}
