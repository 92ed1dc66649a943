package devices

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Limits of the codec. A payload over MaxPayloadBytes is refused before
// any parsing, so the cost of a hostile message is bounded.
const (
	MaxPayloadBytes = 64 << 10 // every topic kind
	MaxBatch        = 500      // telemetry objects in one array
	MaxDetailLen    = 1024     // event detail, firmware error (bytes)
	MaxFutureSkew   = 10 * time.Minute
	MaxSpeedKmh     = 500.0 // exclusive: nothing we track goes that fast
	MinAltM         = -1000.0
	MaxAltM         = 10000.0
	MinSignalDBm    = -150.0
	MaxSignalDBm    = 0.0
	MaxStorageMB    = 1 << 30 // 1 PiB: anything larger is a firmware bug
)

// MinTime is the earliest timestamp accepted: a clock that says 1970 has
// not been set since the battery ran flat.
var MinTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Reason classifies why a payload was refused. It labels metrics, so the
// set is small and fixed.
type Reason string

const (
	ReasonTopic    Reason = "topic"        // not a contract topic
	ReasonTooLarge Reason = "too_large"    // over MaxPayloadBytes
	ReasonEmpty    Reason = "empty"        // nothing in it (or an empty array)
	ReasonSyntax   Reason = "syntax"       // not JSON
	ReasonShape    Reason = "shape"        // JSON, but not an object (or array of objects)
	ReasonTooMany  Reason = "too_many"     // array over MaxBatch
	ReasonType     Reason = "wrong_type"   // a field of the wrong JSON type
	ReasonMissing  Reason = "missing"      // a required field is absent
	ReasonRange    Reason = "out_of_range" // a value outside its plausible range
	ReasonFuture   Reason = "ts_future"    // ts more than MaxFutureSkew ahead
	ReasonTooOld   Reason = "ts_too_old"   // ts before MinTime
	ReasonUnknown  Reason = "unknown_value"
	ReasonTooLong  Reason = "too_long" // a string over its limit
	ReasonEncoding Reason = "encoding" // not printable text
)

// PayloadError is a refused topic or payload: Reason for counting, Field
// for the JSON field at fault ("lat", "[3].ts" in an array, "" for the
// whole payload).
type PayloadError struct {
	Reason Reason
	Field  string
	Msg    string
}

func (e *PayloadError) Error() string {
	if e.Field != "" {
		return "devices: " + string(e.Reason) + ": " + e.Field + ": " + e.Msg
	}
	return "devices: " + string(e.Reason) + ": " + e.Msg
}

// ReasonOf returns the Reason of the *PayloadError in err's chain, and ""
// when err is nil or not a payload error.
func ReasonOf(err error) Reason {
	var pe *PayloadError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return ""
}

func refuse(reason Reason, field, msg string) *PayloadError {
	return &PayloadError{Reason: reason, Field: field, Msg: msg}
}

// Telemetry is one telemetry sample. Absent fields are nil. Lat and Lon
// are both set or both nil: a device without a fix reports 0,0 (or
// nothing), and that sample keeps its other fields but has no position.
// The values behind the pointers are never changed after decoding, so a
// Telemetry may be shared.
type Telemetry struct {
	Time           time.Time
	Lat            *float64 // WGS-84 degrees
	Lon            *float64
	AltM           *float64
	SpeedKmh       *float64
	HeadingDeg     *float64
	BatteryPct     *float64
	Charging       *bool
	StorageFreeMB  *float64
	StorageTotalMB *float64
	Recording      *bool
	SignalDBm      *float64
}

// HasPosition reports whether t carries a fix.
func (t *Telemetry) HasPosition() bool { return t.Lat != nil && t.Lon != nil }

// DecodeTelemetry decodes a telemetry payload (an object, or an array of
// at most MaxBatch objects) and checks every sample against the sanity
// rules, with now as the receive time. It is all or nothing: one bad
// sample refuses the whole message, so a broken device shows up in the
// rejection counts instead of leaking half of its data.
func DecodeTelemetry(payload []byte, now time.Time) ([]Telemetry, error) {
	return AppendTelemetry(nil, payload, now)
}

// AppendTelemetry is DecodeTelemetry appending to dst, for callers that
// reuse a buffer. On error dst is returned unchanged.
func AppendTelemetry(dst []Telemetry, payload []byte, now time.Time) ([]Telemetry, error) {
	if err := checkSize(payload); err != nil {
		return dst, err
	}
	var array bool
	switch firstByte(payload) {
	case '{':
	case '[':
		if overBatch(payload) {
			return dst, refuse(ReasonTooMany, "", "more than "+strconv.Itoa(MaxBatch)+" samples")
		}
		array = true
	default:
		return dst, shapeError(payload, "telemetry is a JSON object or array")
	}
	d := telemetryDecoders.Get().(*telemetryDecoder)
	defer d.release()
	ws, perr := d.decode(payload, array)
	if perr != nil {
		return dst, perr
	}
	if len(ws) == 0 {
		return dst, refuse(ReasonEmpty, "", "empty array")
	}
	orig := dst
	for i := range ws {
		t, err := ws[i].telemetry(now)
		if err != nil {
			if array {
				err.Field = "[" + strconv.Itoa(i) + "]." + err.Field
			}
			return orig, err
		}
		dst = append(dst, t)
	}
	return dst, nil
}

// wireTelemetry is the JSON as sent (see telemetryDecoder). Its field
// types parse without allocating and tell "absent" (or null) from zero.
type wireTelemetry struct {
	TS             msTime   `json:"ts"`
	Lat            optFloat `json:"lat"`
	Lon            optFloat `json:"lon"`
	AltM           optFloat `json:"alt_m"`
	SpeedKmh       optFloat `json:"speed_kmh"`
	HeadingDeg     optFloat `json:"heading_deg"`
	BatteryPct     optFloat `json:"battery_pct"`
	Charging       optBool  `json:"charging"`
	StorageFreeMB  optFloat `json:"storage_free_mb"`
	StorageTotalMB optFloat `json:"storage_total_mb"`
	Recording      optBool  `json:"recording"`
	SignalDBm      optFloat `json:"signal_dbm"`
}

// telemetryValues backs the pointers of one Telemetry: one allocation per
// sample instead of one per field.
type telemetryValues struct {
	f [9]float64
	b [2]bool
}

func (w *wireTelemetry) telemetry(now time.Time) (Telemetry, *PayloadError) {
	var t Telemetry
	ts, err := w.TS.check("ts", now)
	if err != nil {
		return t, err
	}
	t.Time = ts

	if w.Lat.ok != w.Lon.ok {
		if !w.Lat.ok {
			return t, refuse(ReasonMissing, "lat", "lon without lat")
		}
		return t, refuse(ReasonMissing, "lon", "lat without lon")
	}
	checks := [...]struct {
		f        *optFloat
		name     string
		min, max float64
	}{
		{&w.Lat, "lat", -90, 90},
		{&w.Lon, "lon", -180, 180},
		{&w.AltM, "alt_m", MinAltM, MaxAltM},
		{&w.SpeedKmh, "speed_kmh", 0, math.Nextafter(MaxSpeedKmh, 0)},
		{&w.HeadingDeg, "heading_deg", 0, 360},
		{&w.BatteryPct, "battery_pct", 0, 100},
		{&w.StorageFreeMB, "storage_free_mb", 0, MaxStorageMB},
		{&w.StorageTotalMB, "storage_total_mb", 0, MaxStorageMB},
		{&w.SignalDBm, "signal_dbm", MinSignalDBm, MaxSignalDBm},
	}
	for _, c := range checks {
		if c.f.ok && !(c.f.v >= c.min && c.f.v <= c.max) {
			return t, refuse(ReasonRange, c.name, "outside ["+ftoa(c.min)+", "+ftoa(c.max)+"]")
		}
	}
	if w.StorageFreeMB.ok && w.StorageTotalMB.ok && w.StorageFreeMB.v > w.StorageTotalMB.v {
		return t, refuse(ReasonRange, "storage_free_mb", "more free than total")
	}
	if w.Lat.ok && w.Lat.v == 0 && w.Lon.v == 0 {
		w.Lat.ok, w.Lon.ok = false, false // no fix
	}

	vals := new(telemetryValues)
	for i, c := range checks {
		if c.f.ok {
			vals.f[i] = c.f.v
		}
	}
	ptr := func(i int) *float64 {
		if checks[i].f.ok {
			return &vals.f[i]
		}
		return nil
	}
	t.Lat, t.Lon, t.AltM, t.SpeedKmh, t.HeadingDeg = ptr(0), ptr(1), ptr(2), ptr(3), ptr(4)
	t.BatteryPct, t.StorageFreeMB, t.StorageTotalMB, t.SignalDBm = ptr(5), ptr(6), ptr(7), ptr(8)
	if w.Charging.ok {
		vals.b[0] = w.Charging.v
		t.Charging = &vals.b[0]
	}
	if w.Recording.ok {
		vals.b[1] = w.Recording.v
		t.Recording = &vals.b[1]
	}
	return t, nil
}

// EventType is what happened on a device.
type EventType string

const (
	EventSOS         EventType = "sos"
	EventSOSClear    EventType = "sos_clear"
	EventRecordStart EventType = "record_start"
	EventRecordStop  EventType = "record_stop"
	EventLowBattery  EventType = "low_battery"
	EventStorageFull EventType = "storage_full"
	EventTamper      EventType = "tamper"
	EventPowerOn     EventType = "power_on"
	EventPowerOff    EventType = "power_off"
)

// Valid reports whether t is one of the contract's event types.
func (t EventType) Valid() bool {
	switch t {
	case EventSOS, EventSOSClear, EventRecordStart, EventRecordStop, EventLowBattery,
		EventStorageFull, EventTamper, EventPowerOn, EventPowerOff:
		return true
	}
	return false
}

// Event is one device event. Detail is the device's text; a detail sent
// as a JSON value other than a string is kept as its JSON text.
type Event struct {
	Time   time.Time
	Type   EventType
	Detail string
}

type wireEvent struct {
	TS     msTime          `json:"ts"`
	Type   *string         `json:"type"`
	Detail json.RawMessage `json:"detail"`
}

// DecodeEvent decodes and checks an event payload.
func DecodeEvent(payload []byte, now time.Time) (Event, error) {
	var ev Event
	if err := checkObject(payload); err != nil {
		return ev, err
	}
	var w wireEvent
	if err := json.Unmarshal(payload, &w); err != nil {
		return ev, decodeError(err)
	}
	ts, perr := w.TS.check("ts", now)
	if perr != nil {
		return ev, perr
	}
	ev.Time = ts
	if w.Type == nil {
		return ev, refuse(ReasonMissing, "type", "type is required")
	}
	ev.Type = EventType(*w.Type)
	if !ev.Type.Valid() {
		return ev, refuse(ReasonUnknown, "type", "unknown event type")
	}
	detail, perr := detailText(w.Detail)
	if perr != nil {
		return ev, perr
	}
	ev.Detail = detail
	return ev, nil
}

// detailText turns the detail field into text: a JSON string unquoted,
// any other value as its compact JSON, null or absent as "".
func detailText(raw json.RawMessage) (string, *PayloadError) {
	if len(raw) == 0 || isNull(raw) {
		return "", nil
	}
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", refuse(ReasonSyntax, "detail", err.Error())
		}
	} else {
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return "", refuse(ReasonSyntax, "detail", err.Error())
		}
		s = b.String()
	}
	if len(s) > MaxDetailLen {
		return "", refuse(ReasonTooLong, "detail", "over "+strconv.Itoa(MaxDetailLen)+" bytes")
	}
	return s, nil
}

// State is a device's connection state, from its retained state topic
// (and its will message).
type State string

const (
	StateOnline  State = "online"
	StateOffline State = "offline"
)

// DecodeState decodes a state payload: "online" or "offline", plain or as
// a JSON string, surrounding white space ignored. An empty payload (what
// clears a retained message) is refused with ReasonEmpty.
func DecodeState(payload []byte) (State, error) {
	if err := checkSize(payload); err != nil {
		return "", err
	}
	s := bytes.TrimSpace(payload)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	switch string(s) {
	case string(StateOnline):
		return StateOnline, nil
	case string(StateOffline):
		return StateOffline, nil
	}
	return "", refuse(ReasonUnknown, "", "state is online or offline")
}

// FirmwareProgress is a device's report on a firmware job.
type FirmwareProgress struct {
	Time        time.Time
	Job         string
	State       string   // the device's stage, e.g. "downloading", "installed", "failed"
	ProgressPct *float64 // 0–100
	Version     string
	Error       string
}

type wireFirmware struct {
	TS       msTime   `json:"ts"`
	Job      *string  `json:"job"`
	State    *string  `json:"state"`
	Progress optFloat `json:"progress"`
	Version  string   `json:"version"`
	Error    string   `json:"error"`
}

// Limits of a firmware progress report.
const (
	MaxJobLen     = 128
	MaxStateLen   = 32
	MaxVersionLen = 64
)

// DecodeFirmware decodes and checks a firmware progress payload. job and
// state are required; state is a lower-case word ([a-z_]); the firmware
// package decides which states it knows.
func DecodeFirmware(payload []byte, now time.Time) (FirmwareProgress, error) {
	var p FirmwareProgress
	if err := checkObject(payload); err != nil {
		return p, err
	}
	var w wireFirmware
	if err := json.Unmarshal(payload, &w); err != nil {
		return p, decodeError(err)
	}
	ts, perr := w.TS.check("ts", now)
	if perr != nil {
		return p, perr
	}
	p.Time = ts
	switch {
	case w.Job == nil || *w.Job == "":
		return p, refuse(ReasonMissing, "job", "job is required")
	case len(*w.Job) > MaxJobLen:
		return p, refuse(ReasonTooLong, "job", "over "+strconv.Itoa(MaxJobLen)+" bytes")
	case w.State == nil || *w.State == "":
		return p, refuse(ReasonMissing, "state", "state is required")
	case len(*w.State) > MaxStateLen || !isWord(*w.State):
		return p, refuse(ReasonUnknown, "state", "state is a lower-case word")
	case len(w.Version) > MaxVersionLen:
		return p, refuse(ReasonTooLong, "version", "over "+strconv.Itoa(MaxVersionLen)+" bytes")
	case len(w.Error) > MaxDetailLen:
		return p, refuse(ReasonTooLong, "error", "over "+strconv.Itoa(MaxDetailLen)+" bytes")
	}
	p.Job, p.State, p.Version, p.Error = *w.Job, *w.State, w.Version, w.Error
	if w.Progress.ok {
		if !(w.Progress.v >= 0 && w.Progress.v <= 100) {
			return p, refuse(ReasonRange, "progress", "outside [0, 100]")
		}
		v := w.Progress.v
		p.ProgressPct = &v
	}
	return p, nil
}

// CheckNMEA applies the codec's limits to an nmea payload: not empty, not
// over MaxPayloadBytes, printable ASCII lines. Sentences are decoded by
// devices/ais.
func CheckNMEA(payload []byte) error {
	if err := checkSize(payload); err != nil {
		return err
	}
	for _, c := range payload {
		if (c < 0x20 || c > 0x7e) && c != '\r' && c != '\n' {
			return refuse(ReasonEncoding, "", "NMEA 0183 is printable ASCII")
		}
	}
	return nil
}

// Helpers.

func checkSize(payload []byte) *PayloadError {
	if len(payload) > MaxPayloadBytes {
		return refuse(ReasonTooLarge, "", "over "+strconv.Itoa(MaxPayloadBytes)+" bytes")
	}
	if len(bytes.TrimSpace(payload)) == 0 {
		return refuse(ReasonEmpty, "", "empty payload")
	}
	return nil
}

func checkObject(payload []byte) error {
	if err := checkSize(payload); err != nil {
		return err
	}
	if firstByte(payload) != '{' {
		return shapeError(payload, "payload is a JSON object")
	}
	return nil
}

// shapeError refuses a payload of the wrong shape: as syntax when it is
// not JSON at all.
func shapeError(payload []byte, msg string) *PayloadError {
	if !json.Valid(payload) {
		return refuse(ReasonSyntax, "", "not JSON")
	}
	return refuse(ReasonShape, "", msg)
}

func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// overBatch reports whether the JSON array b has more than MaxBatch
// elements, by counting the commas at its top level, so an oversized batch
// is refused before it is decoded. On malformed input the answer is merely
// wrong: json.Unmarshal reports the syntax error.
func overBatch(b []byte) bool {
	depth, commas, inString, escaped := 0, 0, false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		case ',':
			if depth == 1 {
				if commas++; commas >= MaxBatch {
					return true
				}
			}
		}
	}
	return false
}

func isNull(b []byte) bool { return string(b) == "null" }

func isWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return s != ""
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// decodeError classifies an error of json.Unmarshal.
func decodeError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		pe  *PayloadError
	)
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.As(err, &syn):
		return refuse(ReasonSyntax, "", syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return refuse(ReasonShape, "", "expected an object, got "+typ.Value)
		}
		// encoding/json and our field types say "number <literal>" when
		// a number does not fit its type (1e999), and the bare JSON
		// type ("string", "number", …) when the type is wrong.
		if strings.HasPrefix(typ.Value, "number ") {
			return refuse(ReasonRange, field, "number out of range")
		}
		return refuse(ReasonType, field, "expected "+jsonTypeName(typ.Type)+", got "+typ.Value)
	}
	return refuse(ReasonSyntax, "", err.Error())
}

func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.Float64, reflect.Int64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	}
	return t.String()
}

var (
	float64Type = reflect.TypeFor[float64]()
	int64Type   = reflect.TypeFor[int64]()
	boolType    = reflect.TypeFor[bool]()
)

// jsonKind names the JSON type of a raw value, as encoding/json does in
// its type errors.
func jsonKind(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	}
	return "number"
}

// optFloat is an optional JSON number; null counts as absent.
type optFloat struct {
	v  float64
	ok bool
}

func (f *optFloat) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	if jsonKind(b) != "number" {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: float64Type}
	}
	// b is a valid JSON number (the scanner checked), so the only error
	// left is range: 1e999.
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return &json.UnmarshalTypeError{Value: "number " + string(b), Type: float64Type}
	}
	f.v, f.ok = v, true
	return nil
}

// optBool is an optional JSON boolean; null counts as absent.
type optBool struct {
	v, ok bool
}

func (f *optBool) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "null":
	case "true":
		f.v, f.ok = true, true
	case "false":
		f.v, f.ok = false, true
	default:
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: boolType}
	}
	return nil
}

// msTime is a Unix time in milliseconds: a JSON integer, no fraction and
// no exponent.
type msTime struct {
	ms int64
	ok bool
}

func (t *msTime) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	if jsonKind(b) != "number" {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: int64Type}
	}
	ms, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return &json.UnmarshalTypeError{Value: "number " + string(b), Type: int64Type}
		}
		return &json.UnmarshalTypeError{Value: "non-integer number", Type: int64Type}
	}
	t.ms, t.ok = ms, true
	return nil
}

// check applies the time rules: present, not before MinTime, not more
// than MaxFutureSkew after now.
func (t msTime) check(field string, now time.Time) (time.Time, *PayloadError) {
	if !t.ok {
		return time.Time{}, refuse(ReasonMissing, field, field+" is required")
	}
	if t.ms < MinTime.UnixMilli() {
		return time.Time{}, refuse(ReasonTooOld, field, "before "+MinTime.Format("2006-01-02"))
	}
	if t.ms > now.Add(MaxFutureSkew).UnixMilli() {
		return time.Time{}, refuse(ReasonFuture, field, "more than "+MaxFutureSkew.String()+" ahead")
	}
	return time.UnixMilli(t.ms).UTC(), nil
}
