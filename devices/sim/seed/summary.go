package seed

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

// Print writes the summary for the person who ran the seed.
func (s Summary) Print(w io.Writer) error {
	var b strings.Builder
	if s.Skipped {
		fmt.Fprintf(&b, "province %s (%s) was already seeded; reusing %s\n", ProvinceCode, s.ProvinceID, s.StatePath)
	} else {
		fmt.Fprintf(&b, "seeded %s %s (%s) in %s\n", ProvinceCode, ProvinceName, s.ProvinceID, s.Took.Round(time.Millisecond))
		fmt.Fprintf(&b, "units:    ")
		for _, l := range []fleet.UnitLevel{fleet.LevelProvince, fleet.LevelCity, fleet.LevelCounty, fleet.LevelStation} {
			fmt.Fprintf(&b, " %s %d", l, s.Units[l])
		}
		total := 0
		for _, n := range s.Officers {
			total += n
		}
		fmt.Fprintf(&b, "\nofficers:  %d (%d eligible); ineligible:", total, s.Eligible)
		for _, p := range profilesInMix() {
			if s.Officers[p] > 0 {
				fmt.Fprintf(&b, " %s %d", p, s.Officers[p])
			}
		}
		b.WriteString("\n")
	}
	for _, k := range []fleet.DeviceKind{fleet.KindRecorder, fleet.KindVehicleTerminal, fleet.KindAISUnit} {
		byStatus := s.Devices[k]
		total := 0
		for _, n := range byStatus {
			total += n
		}
		fmt.Fprintf(&b, "%-17s %4d:", k, total)
		statuses := make([]string, 0, len(byStatus))
		for st := range byStatus {
			statuses = append(statuses, string(st))
		}
		slices.Sort(statuses)
		for _, st := range statuses {
			fmt.Fprintf(&b, " %s %d", st, byStatus[fleet.DeviceStatus(st)])
		}
		b.WriteString("\n")
	}
	if len(s.Users) > 0 {
		fmt.Fprintf(&b, "demo users (password %q):\n", s.DemoPassword)
		for _, u := range s.Users {
			fmt.Fprintf(&b, "  %-18s %-17s at %s\n", u.Username, u.Role, u.UnitCode)
		}
	}
	fmt.Fprintf(&b, "device ids and MQTT secrets: %s\n", s.StatePath)
	_, err := io.WriteString(w, b.String())
	return err
}

func profilesInMix() []Profile {
	ps := make([]Profile, len(profileMix))
	for i, m := range profileMix {
		ps[i] = m.profile
	}
	return ps
}
