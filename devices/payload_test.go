package devices

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// now is the receive time of every test payload; tsNow is it in Unix ms.
var now = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

var tsNow = strconv.FormatInt(now.UnixMilli(), 10)

// typical is a 150-byte telemetry message as a recorder sends it.
var typical = []byte(`{"ts":` + tsNow + `,"lat":30.592849,"lon":114.305539,"alt_m":23.5,"speed_kmh":4.2,"heading_deg":182,"battery_pct":76,"recording":true,"signal_dbm":-71}`)

func TestDecodeTelemetry(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		reason  Reason
		field   string
		n       int
		check   func(t *testing.T, got []Telemetry)
	}{
		{name: "typical", payload: string(typical), n: 1, check: func(t *testing.T, got []Telemetry) {
			g := got[0]
			if !g.Time.Equal(now) || *g.Lat != 30.592849 || *g.Lon != 114.305539 || *g.AltM != 23.5 ||
				*g.SpeedKmh != 4.2 || *g.HeadingDeg != 182 || *g.BatteryPct != 76 || !*g.Recording ||
				*g.SignalDBm != -71 || g.Charging != nil || g.StorageFreeMB != nil {
				t.Errorf("got %+v", g)
			}
		}},
		{name: "ts only", payload: `{"ts":` + tsNow + `}`, n: 1, check: func(t *testing.T, got []Telemetry) {
			if got[0].HasPosition() || got[0].BatteryPct != nil {
				t.Errorf("got %+v", got[0])
			}
		}},
		{name: "all fields", payload: `{"ts":` + tsNow + `,"lat":-90,"lon":180,"alt_m":-1000,"speed_kmh":0,"heading_deg":360,` +
			`"battery_pct":100,"charging":false,"storage_free_mb":0,"storage_total_mb":0,"recording":false,"signal_dbm":0}`, n: 1,
			check: func(t *testing.T, got []Telemetry) {
				g := got[0]
				if *g.Lat != -90 || *g.Lon != 180 || *g.Charging || *g.Recording || *g.StorageTotalMB != 0 {
					t.Errorf("got %+v", g)
				}
			}},
		{name: "no fix keeps other fields", payload: `{"ts":` + tsNow + `,"lat":0,"lon":0,"battery_pct":50}`, n: 1,
			check: func(t *testing.T, got []Telemetry) {
				if got[0].HasPosition() || got[0].Lat != nil || *got[0].BatteryPct != 50 {
					t.Errorf("got %+v", got[0])
				}
			}},
		{name: "null is absent", payload: `{"ts":` + tsNow + `,"lat":null,"lon":null,"charging":null}`, n: 1},
		{name: "unknown fields ignored", payload: `{"ts":` + tsNow + `,"foo":{"bar":[1,2,"x"]},"lat":1,"lon":2,"x":1e999}`, n: 1},
		{name: "array", payload: `[{"ts":` + tsNow + `,"lat":1,"lon":1},{"ts":` + tsNow + `,"lat":2,"lon":2}]`, n: 2,
			check: func(t *testing.T, got []Telemetry) {
				if *got[0].Lat != 1 || *got[1].Lat != 2 {
					t.Errorf("samples share storage: %v %v", *got[0].Lat, *got[1].Lat)
				}
			}},
		{name: "white space", payload: " \n\t" + string(typical) + "\n", n: 1},
		{name: "ts 10 min ahead", payload: `{"ts":` + strconv.FormatInt(now.Add(MaxFutureSkew).UnixMilli(), 10) + `}`, n: 1},

		{name: "empty", payload: ``, reason: ReasonEmpty},
		{name: "blank", payload: "  \n", reason: ReasonEmpty},
		{name: "empty array", payload: `[]`, reason: ReasonEmpty},
		{name: "bad JSON", payload: `{"ts":`, reason: ReasonSyntax},
		{name: "trailing garbage", payload: string(typical) + `x`, reason: ReasonSyntax},
		{name: "two objects", payload: string(typical) + string(typical), reason: ReasonSyntax},
		{name: "NaN literal", payload: `{"ts":` + tsNow + `,"lat":NaN,"lon":1}`, reason: ReasonSyntax},
		{name: "string", payload: `"hello"`, reason: ReasonShape},
		{name: "number", payload: `42`, reason: ReasonShape},
		{name: "array of numbers", payload: `[1,2]`, reason: ReasonShape},
		{name: "nested array", payload: `[[{"ts":` + tsNow + `}]]`, reason: ReasonShape},
		{name: "missing ts", payload: `{"lat":1,"lon":1}`, reason: ReasonMissing, field: "ts"},
		{name: "null ts", payload: `{"ts":null}`, reason: ReasonMissing, field: "ts"},
		{name: "ts string", payload: `{"ts":"` + tsNow + `"}`, reason: ReasonType, field: "ts"},
		{name: "ts fraction", payload: `{"ts":1748764800000.5}`, reason: ReasonType, field: "ts"},
		{name: "ts exponent", payload: `{"ts":1.7487648e12}`, reason: ReasonType, field: "ts"},
		{name: "ts huge", payload: `{"ts":99999999999999999999}`, reason: ReasonRange, field: "ts"},
		{name: "ts in seconds", payload: `{"ts":1748764800}`, reason: ReasonTooOld, field: "ts"},
		{name: "ts negative", payload: `{"ts":-1}`, reason: ReasonTooOld, field: "ts"},
		{name: "ts far future", payload: `{"ts":` + strconv.FormatInt(now.Add(24*time.Hour).UnixMilli(), 10) + `}`, reason: ReasonFuture, field: "ts"},
		{name: "ts 11 min ahead", payload: `{"ts":` + strconv.FormatInt(now.Add(11*time.Minute).UnixMilli(), 10) + `}`, reason: ReasonFuture, field: "ts"},
		{name: "lat 200", payload: `{"ts":` + tsNow + `,"lat":200,"lon":114}`, reason: ReasonRange, field: "lat"},
		{name: "lat -90.1", payload: `{"ts":` + tsNow + `,"lat":-90.1,"lon":114}`, reason: ReasonRange, field: "lat"},
		{name: "lon 181", payload: `{"ts":` + tsNow + `,"lat":30,"lon":181}`, reason: ReasonRange, field: "lon"},
		{name: "lat without lon", payload: `{"ts":` + tsNow + `,"lat":30}`, reason: ReasonMissing, field: "lon"},
		{name: "lon without lat", payload: `{"ts":` + tsNow + `,"lon":30}`, reason: ReasonMissing, field: "lat"},
		{name: "lat string", payload: `{"ts":` + tsNow + `,"lat":"30.5","lon":114}`, reason: ReasonType, field: "lat"},
		{name: "lat object", payload: `{"ts":` + tsNow + `,"lat":{},"lon":114}`, reason: ReasonType, field: "lat"},
		{name: "lat big exponent", payload: `{"ts":` + tsNow + `,"lat":1e400,"lon":114}`, reason: ReasonRange, field: "lat"},
		{name: "lat 1e300", payload: `{"ts":` + tsNow + `,"lat":1e300,"lon":114}`, reason: ReasonRange, field: "lat"},
		{name: "speed 500", payload: `{"ts":` + tsNow + `,"speed_kmh":500}`, reason: ReasonRange, field: "speed_kmh"},
		{name: "speed negative", payload: `{"ts":` + tsNow + `,"speed_kmh":-1}`, reason: ReasonRange, field: "speed_kmh"},
		{name: "heading 361", payload: `{"ts":` + tsNow + `,"heading_deg":361}`, reason: ReasonRange, field: "heading_deg"},
		{name: "battery 101", payload: `{"ts":` + tsNow + `,"battery_pct":101}`, reason: ReasonRange, field: "battery_pct"},
		{name: "battery -1", payload: `{"ts":` + tsNow + `,"battery_pct":-1}`, reason: ReasonRange, field: "battery_pct"},
		{name: "battery bool", payload: `{"ts":` + tsNow + `,"battery_pct":true}`, reason: ReasonType, field: "battery_pct"},
		{name: "recording number", payload: `{"ts":` + tsNow + `,"recording":1}`, reason: ReasonType, field: "recording"},
		{name: "charging string", payload: `{"ts":` + tsNow + `,"charging":"true"}`, reason: ReasonType, field: "charging"},
		{name: "free over total", payload: `{"ts":` + tsNow + `,"storage_free_mb":2000,"storage_total_mb":1000}`, reason: ReasonRange, field: "storage_free_mb"},
		{name: "free negative", payload: `{"ts":` + tsNow + `,"storage_free_mb":-5}`, reason: ReasonRange, field: "storage_free_mb"},
		{name: "total absurd", payload: `{"ts":` + tsNow + `,"storage_total_mb":1e20}`, reason: ReasonRange, field: "storage_total_mb"},
		{name: "altitude absurd", payload: `{"ts":` + tsNow + `,"alt_m":40000}`, reason: ReasonRange, field: "alt_m"},
		{name: "signal positive", payload: `{"ts":` + tsNow + `,"signal_dbm":10}`, reason: ReasonRange, field: "signal_dbm"},
		{name: "bad element refuses all", payload: `[{"ts":` + tsNow + `},{"ts":` + tsNow + `,"lat":200,"lon":1}]`, reason: ReasonRange, field: "[1].lat"},
		{name: "null element", payload: `[null]`, reason: ReasonMissing, field: "[0].ts"},
		{name: "too many", payload: "[" + strings.Repeat(`{"ts":`+tsNow+`},`, MaxBatch) + `{"ts":` + tsNow + `}]`, reason: ReasonTooMany},
		{name: "too large", payload: `{"ts":` + tsNow + `,"pad":"` + strings.Repeat("x", MaxPayloadBytes) + `"}`, reason: ReasonTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeTelemetry([]byte(tt.payload), now)
			if tt.reason != "" {
				if err == nil {
					t.Fatalf("accepted: %+v", got)
				}
				if ReasonOf(err) != tt.reason {
					t.Fatalf("reason = %q (%v), want %q", ReasonOf(err), err, tt.reason)
				}
				if tt.field != "" && fieldOf(err) != tt.field {
					t.Fatalf("field = %q (%v), want %q", fieldOf(err), err, tt.field)
				}
				if got != nil {
					t.Fatalf("refused payload returned %d samples", len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.n {
				t.Fatalf("got %d samples, want %d", len(got), tt.n)
			}
			for i := range got {
				checkTelemetry(t, &got[i], now)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestDecodeTelemetryMaxBatch(t *testing.T) {
	payload := "[" + strings.Repeat(`{"ts":`+tsNow+`},`, MaxBatch-1) + `{"ts":` + tsNow + `}]`
	got, err := DecodeTelemetry([]byte(payload), now)
	if err != nil || len(got) != MaxBatch {
		t.Fatalf("got %d, %v", len(got), err)
	}
	// Commas inside strings and nested values do not count.
	payload = `[{"ts":` + tsNow + `,"x":"` + strings.Repeat(",", 2*MaxBatch) + `","y":[` + strings.Repeat("1,", MaxBatch) + `1]}]`
	if _, err := DecodeTelemetry([]byte(payload), now); err != nil {
		t.Fatal(err)
	}
}

func TestAppendTelemetryKeepsDst(t *testing.T) {
	dst, err := AppendTelemetry(nil, typical, now)
	if err != nil {
		t.Fatal(err)
	}
	dst, err = AppendTelemetry(dst, []byte(`[{"ts":`+tsNow+`},{"ts":1}]`), now)
	if err == nil || len(dst) != 1 {
		t.Fatalf("len %d, err %v", len(dst), err)
	}
}

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    Event
		reason  Reason
		field   string
	}{
		{name: "sos", payload: `{"ts":` + tsNow + `,"type":"sos","detail":"button"}`, want: Event{Time: now, Type: EventSOS, Detail: "button"}},
		{name: "no detail", payload: `{"ts":` + tsNow + `,"type":"record_start"}`, want: Event{Time: now, Type: EventRecordStart}},
		{name: "null detail", payload: `{"ts":` + tsNow + `,"type":"tamper","detail":null}`, want: Event{Time: now, Type: EventTamper}},
		{name: "object detail", payload: `{"ts":` + tsNow + `,"type":"low_battery","detail":{ "pct" : 9 }}`, want: Event{Time: now, Type: EventLowBattery, Detail: `{"pct":9}`}},
		{name: "number detail", payload: `{"ts":` + tsNow + `,"type":"power_off","detail":3}`, want: Event{Time: now, Type: EventPowerOff, Detail: `3`}},
		{name: "unicode detail", payload: `{"ts":` + tsNow + `,"type":"sos","detail":"\u6c42\u6551"}`, want: Event{Time: now, Type: EventSOS, Detail: "求救"}},
		{name: "unknown field", payload: `{"ts":` + tsNow + `,"type":"sos","extra":[1]}`, want: Event{Time: now, Type: EventSOS}},

		{name: "unknown type", payload: `{"ts":` + tsNow + `,"type":"explode"}`, reason: ReasonUnknown, field: "type"},
		{name: "missing type", payload: `{"ts":` + tsNow + `}`, reason: ReasonMissing, field: "type"},
		{name: "type number", payload: `{"ts":` + tsNow + `,"type":1}`, reason: ReasonType, field: "type"},
		{name: "missing ts", payload: `{"type":"sos"}`, reason: ReasonMissing, field: "ts"},
		{name: "future", payload: `{"ts":` + strconv.FormatInt(now.Add(time.Hour).UnixMilli(), 10) + `,"type":"sos"}`, reason: ReasonFuture, field: "ts"},
		{name: "detail too long", payload: `{"ts":` + tsNow + `,"type":"sos","detail":"` + strings.Repeat("x", MaxDetailLen+1) + `"}`, reason: ReasonTooLong, field: "detail"},
		{name: "array", payload: `[{"ts":` + tsNow + `,"type":"sos"}]`, reason: ReasonShape},
		{name: "bad JSON", payload: `{"ts":` + tsNow + `,"type":"sos"`, reason: ReasonSyntax},
		{name: "empty", payload: ``, reason: ReasonEmpty},
		{name: "too large", payload: `{"ts":` + tsNow + `,"type":"sos","pad":"` + strings.Repeat("x", MaxPayloadBytes) + `"}`, reason: ReasonTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeEvent([]byte(tt.payload), now)
			if tt.reason != "" {
				if ReasonOf(err) != tt.reason || (tt.field != "" && fieldOf(err) != tt.field) {
					t.Fatalf("err = %v, want reason %q field %q", err, tt.reason, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Time.Equal(tt.want.Time) || got.Type != tt.want.Type || got.Detail != tt.want.Detail {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeState(t *testing.T) {
	tests := []struct {
		payload string
		want    State
		reason  Reason
	}{
		{"online", StateOnline, ""},
		{"offline", StateOffline, ""},
		{" offline\n", StateOffline, ""},
		{`"online"`, StateOnline, ""},
		{"", "", ReasonEmpty},
		{"ONLINE", "", ReasonUnknown},
		{"on", "", ReasonUnknown},
		{`{"state":"online"}`, "", ReasonUnknown},
		{strings.Repeat("x", MaxPayloadBytes+1), "", ReasonTooLarge},
	}
	for _, tt := range tests {
		got, err := DecodeState([]byte(tt.payload))
		if got != tt.want || ReasonOf(err) != tt.reason {
			t.Errorf("DecodeState(%.20q) = %q, %v; want %q, reason %q", tt.payload, got, err, tt.want, tt.reason)
		}
	}
}

func TestDecodeFirmware(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		reason  Reason
		field   string
	}{
		{name: "progress", payload: `{"ts":` + tsNow + `,"job":"fw_1","state":"downloading","progress":42.5,"version":"2.1.0"}`},
		{name: "failed", payload: `{"ts":` + tsNow + `,"job":"fw_1","state":"failed","error":"signature mismatch"}`},
		{name: "missing job", payload: `{"ts":` + tsNow + `,"state":"failed"}`, reason: ReasonMissing, field: "job"},
		{name: "missing state", payload: `{"ts":` + tsNow + `,"job":"j"}`, reason: ReasonMissing, field: "state"},
		{name: "bad state", payload: `{"ts":` + tsNow + `,"job":"j","state":"Done!"}`, reason: ReasonUnknown, field: "state"},
		{name: "progress 101", payload: `{"ts":` + tsNow + `,"job":"j","state":"x","progress":101}`, reason: ReasonRange, field: "progress"},
		{name: "progress string", payload: `{"ts":` + tsNow + `,"job":"j","state":"x","progress":"50"}`, reason: ReasonType, field: "progress"},
		{name: "job number", payload: `{"ts":` + tsNow + `,"job":7,"state":"x"}`, reason: ReasonType, field: "job"},
		{name: "long version", payload: `{"ts":` + tsNow + `,"job":"j","state":"x","version":"` + strings.Repeat("1", MaxVersionLen+1) + `"}`, reason: ReasonTooLong, field: "version"},
		{name: "missing ts", payload: `{"job":"j","state":"x"}`, reason: ReasonMissing, field: "ts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeFirmware([]byte(tt.payload), now)
			if tt.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Job != "fw_1" || !got.Time.Equal(now) {
					t.Fatalf("got %+v", got)
				}
				return
			}
			if ReasonOf(err) != tt.reason || fieldOf(err) != tt.field {
				t.Fatalf("err = %v, want reason %q field %q", err, tt.reason, tt.field)
			}
		})
	}
}

func TestCheckNMEA(t *testing.T) {
	ok := "!AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0*23\r\n!AIVDM,1,1,,B,13HOI:0P0000VOHLCnHQKwvL05Ip,0*20\r\n"
	if err := CheckNMEA([]byte(ok)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "!AIVDM\x00", "!AIVDM,\xff", strings.Repeat("!", MaxPayloadBytes+1)} {
		if err := CheckNMEA([]byte(bad)); err == nil {
			t.Errorf("CheckNMEA(%.20q) accepted", bad)
		}
	}
}

func TestPayloadErrorMessage(t *testing.T) {
	_, err := DecodeTelemetry([]byte(`{"ts":`+tsNow+`,"lat":200,"lon":1}`), now)
	if got := err.Error(); got != "devices: out_of_range: lat: outside [-90, 90]" {
		t.Errorf("Error() = %q", got)
	}
	if ReasonOf(nil) != "" {
		t.Error("ReasonOf(nil) != \"\"")
	}
}

func fieldOf(err error) string {
	if pe, ok := err.(*PayloadError); ok {
		return pe.Field
	}
	return "<not a PayloadError>"
}

// checkTelemetry asserts the invariants of every accepted sample.
func checkTelemetry(t testing.TB, g *Telemetry, now time.Time) {
	t.Helper()
	if g.Time.Before(MinTime) || g.Time.After(now.Add(MaxFutureSkew)) {
		t.Fatalf("time %v out of bounds", g.Time)
	}
	if (g.Lat == nil) != (g.Lon == nil) {
		t.Fatalf("half a position: %v %v", g.Lat, g.Lon)
	}
	if g.HasPosition() && *g.Lat == 0 && *g.Lon == 0 {
		t.Fatal("0,0 accepted as a position")
	}
	in := func(name string, p *float64, lo, hi float64) {
		if p != nil && (math.IsNaN(*p) || *p < lo || *p > hi) {
			t.Fatalf("%s = %v outside [%v, %v]", name, *p, lo, hi)
		}
	}
	in("lat", g.Lat, -90, 90)
	in("lon", g.Lon, -180, 180)
	in("alt_m", g.AltM, MinAltM, MaxAltM)
	in("speed_kmh", g.SpeedKmh, 0, MaxSpeedKmh)
	if g.SpeedKmh != nil && *g.SpeedKmh >= MaxSpeedKmh {
		t.Fatalf("speed %v", *g.SpeedKmh)
	}
	in("heading_deg", g.HeadingDeg, 0, 360)
	in("battery_pct", g.BatteryPct, 0, 100)
	in("storage_free_mb", g.StorageFreeMB, 0, MaxStorageMB)
	in("storage_total_mb", g.StorageTotalMB, 0, MaxStorageMB)
	in("signal_dbm", g.SignalDBm, MinSignalDBm, MaxSignalDBm)
	if g.StorageFreeMB != nil && g.StorageTotalMB != nil && *g.StorageFreeMB > *g.StorageTotalMB {
		t.Fatal("free > total")
	}
}

func FuzzTelemetry(f *testing.F) {
	f.Add(typical)
	f.Add([]byte(`[{"ts":` + tsNow + `,"lat":0,"lon":0,"battery_pct":5,"storage_free_mb":1,"storage_total_mb":2}]`))
	f.Add([]byte(`{"ts":` + tsNow + `,"lat":200,"lon":1e400,"charging":null}`))
	f.Add([]byte(`{"ts":1.5e12,"speed_kmh":"fast"}`))
	f.Add([]byte(`[[],{},null,1,"x"]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, err := DecodeTelemetry(payload, now)
		if err != nil {
			if got != nil {
				t.Fatal("samples returned with an error")
			}
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if len(got) == 0 || len(got) > MaxBatch || len(payload) > MaxPayloadBytes {
			t.Fatalf("accepted %d samples from %d bytes", len(got), len(payload))
		}
		for i := range got {
			checkTelemetry(t, &got[i], now)
		}
	})
}

func FuzzEvent(f *testing.F) {
	f.Add([]byte(`{"ts":` + tsNow + `,"type":"sos","detail":"button"}`))
	f.Add([]byte(`{"ts":` + tsNow + `,"type":"low_battery","detail":{"pct":[1,2]}}`))
	f.Add([]byte(`{"ts":` + tsNow + `,"type":"nope"}`))
	f.Add([]byte(`{"ts":"x","type":1,"detail":true}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := DecodeEvent(payload, now)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if !ev.Type.Valid() || len(ev.Detail) > MaxDetailLen {
			t.Fatalf("accepted %+v", ev)
		}
		if ev.Time.Before(MinTime) || ev.Time.After(now.Add(MaxFutureSkew)) {
			t.Fatalf("time %v out of bounds", ev.Time)
		}
		if !json.Valid(payload) {
			t.Fatalf("accepted %q", payload)
		}
	})
}

func BenchmarkDecodeTelemetry(b *testing.B) {
	b.SetBytes(int64(len(typical)))
	b.ReportAllocs()
	var buf []Telemetry
	for b.Loop() {
		var err error
		buf, err = AppendTelemetry(buf[:0], typical, now)
		if err != nil {
			b.Fatal(err)
		}
	}
}
