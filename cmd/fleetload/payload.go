package main

import (
	"math"
	"strconv"
)

// sample is one telemetry report of a recorder, as devsim sends it: a
// position near Wuhan that moves with seq, battery, storage, recording
// and signal. Values stay inside the ranges that raise no alert (battery
// and storage well above their thresholds), so the run measures the
// telemetry path, not alert handling.
type sample struct {
	tsMs                  int64
	lat, lon              float64
	speedKmh, headingDeg  float64
	batteryPct            float64
	charging, recording   bool
	storageFree, storageT float64
	signalDBm             float64
}

func makeSample(device int, seq int64, tsMs int64) sample {
	a := float64(device%3600) / 10 // a heading per device
	step := float64(seq%1000) * 0.00001
	rad := a * math.Pi / 180
	return sample{
		tsMs:        tsMs,
		lat:         round6(30.4 + float64(device%997)*0.0004 + step*math.Cos(rad)),
		lon:         round6(114.1 + float64(device%991)*0.0004 + step*math.Sin(rad)),
		speedKmh:    float64(device%60) + 0.5,
		headingDeg:  a,
		batteryPct:  60 + float64(device%40),
		charging:    false,
		recording:   device%4 != 0,
		storageFree: float64(40000 + device%20000),
		storageT:    65536,
		signalDBm:   -60 - float64(device%40),
	}
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// appendJSON appends the contract's telemetry JSON (about 200 bytes).
func (s *sample) appendJSON(b []byte) []byte {
	b = append(b, `{"ts":`...)
	b = strconv.AppendInt(b, s.tsMs, 10)
	b = append(b, `,"lat":`...)
	b = strconv.AppendFloat(b, s.lat, 'f', -1, 64)
	b = append(b, `,"lon":`...)
	b = strconv.AppendFloat(b, s.lon, 'f', -1, 64)
	b = append(b, `,"speed_kmh":`...)
	b = strconv.AppendFloat(b, s.speedKmh, 'f', -1, 64)
	b = append(b, `,"heading_deg":`...)
	b = strconv.AppendFloat(b, s.headingDeg, 'f', -1, 64)
	b = append(b, `,"battery_pct":`...)
	b = strconv.AppendFloat(b, s.batteryPct, 'f', -1, 64)
	b = append(b, `,"charging":`...)
	b = strconv.AppendBool(b, s.charging)
	b = append(b, `,"storage_free_mb":`...)
	b = strconv.AppendFloat(b, s.storageFree, 'f', -1, 64)
	b = append(b, `,"storage_total_mb":`...)
	b = strconv.AppendFloat(b, s.storageT, 'f', -1, 64)
	b = append(b, `,"recording":`...)
	b = strconv.AppendBool(b, s.recording)
	b = append(b, `,"signal_dbm":`...)
	b = strconv.AppendFloat(b, s.signalDBm, 'f', -1, 64)
	return append(b, '}')
}

// appendLine appends the line that the service's InfluxDB encoder makes
// of this sample (measurement telemetry, tags device, kind, unit sorted,
// fields sorted, nanosecond time), so the ceiling run writes what the
// service writes.
func (s *sample) appendLine(b []byte, device, unit string, tsNs int64) []byte {
	b = append(b, "telemetry,device="...)
	b = append(b, device...)
	b = append(b, ",kind=recorder,unit="...)
	b = append(b, unit...)
	b = append(b, " battery_pct="...)
	b = strconv.AppendFloat(b, s.batteryPct, 'f', -1, 64)
	b = append(b, ",charging="...)
	b = strconv.AppendBool(b, s.charging)
	b = append(b, ",heading_deg="...)
	b = strconv.AppendFloat(b, s.headingDeg, 'f', -1, 64)
	b = append(b, ",lat="...)
	b = strconv.AppendFloat(b, s.lat, 'f', -1, 64)
	b = append(b, ",lon="...)
	b = strconv.AppendFloat(b, s.lon, 'f', -1, 64)
	b = append(b, ",recording="...)
	b = strconv.AppendBool(b, s.recording)
	b = append(b, ",signal_dbm="...)
	b = strconv.AppendFloat(b, s.signalDBm, 'f', -1, 64)
	b = append(b, ",speed_kmh="...)
	b = strconv.AppendFloat(b, s.speedKmh, 'f', -1, 64)
	b = append(b, ",storage_free_mb="...)
	b = strconv.AppendFloat(b, s.storageFree, 'f', -1, 64)
	b = append(b, ",storage_total_mb="...)
	b = strconv.AppendFloat(b, s.storageT, 'f', -1, 64)
	b = append(b, ' ')
	b = strconv.AppendInt(b, tsNs, 10)
	return append(b, '\n')
}
