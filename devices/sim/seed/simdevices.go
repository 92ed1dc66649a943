package seed

import (
	"hash/fnv"
	"math"

	"github.com/lawfleet/fleet/devices/sim"
)

// SimDevices turns the seeded devices into simulated ones; devices in
// repair, lost or retired stay silent.
func SimDevices(st State) []sim.Device {
	var devs []sim.Device
	for _, d := range st.Devices {
		role, ok := sim.RoleOf(d.Kind, d.Status)
		if !ok {
			continue
		}
		origin, home := place(d.UnitCode)
		devs = append(devs, sim.Device{ID: d.ID, Secret: d.MQTTSecret, Kind: d.Kind, Role: role, Firmware: d.Firmware,
			Origin: origin, Home: home, MMSI: d.MMSI})
	}
	return devs
}

// place is where a unit's devices work: around its city's centre, with
// the unit's own station a few kilometres from it, the same every run.
func place(unitCode string) (origin, home sim.LatLon) {
	origin = sim.Wuhan
	if lat, lon, ok := CityCentre(unitCode); ok {
		origin = sim.LatLon{Lat: lat, Lon: lon}
	}
	h := fnv.New64a()
	h.Write([]byte(unitCode))
	v := h.Sum64()
	angle := float64(v%3600) / 3600 * 2 * math.Pi
	km := 1 + float64(v/3600%5000)/1000 // 1–6 km out
	const kmPerDegLat = 111.2
	home = sim.LatLon{Lat: origin.Lat + km*math.Cos(angle)/kmPerDegLat,
		Lon: origin.Lon + km*math.Sin(angle)/(kmPerDegLat*math.Cos(origin.Lat*math.Pi/180))}
	return origin, home
}
