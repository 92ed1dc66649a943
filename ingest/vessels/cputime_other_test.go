//go:build !unix

package vessels

import "time"

func cpuTime() (time.Duration, bool) { return 0, false }
