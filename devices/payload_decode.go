package devices

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// telemetryDecoder reads telemetry JSON with the streaming tokenizer of
// github.com/go-json-experiment/json (the upstream of Go's
// encoding/json/v2), which checks the syntax, straight into wireTelemetry
// values. Telemetry is nearly every message ingest handles, and
// encoding/json's reflection and whole-payload validation pass were a
// sixth of the service's CPU at 20,000 messages a second; this costs a
// fraction of that and, pooled, allocates nothing.
//
// The result is what encoding/json.Unmarshal into wireTelemetry gave,
// which FuzzTelemetryDecoders checks against a copy of the old decoder:
// member names match case-insensitively as encoding/json folds them, a
// repeated member overwrites (null leaves the earlier value), unknown
// members are skipped, invalid UTF-8 inside strings is let through, a
// syntax error anywhere wins over a wrong type, and a wrong type or an
// unrepresentable number is reported by the same UnmarshalJSON methods
// that encoding/json called. One thing is better: a wrong type inside an
// array names the element ("[2].lat"), as every other array error does.
//
// jsontext is this domain package's one import from outside the standard
// library, by exception: it is the standard library's own
// encoding/json/jsontext, which Go 1.26 ships only behind
// GOEXPERIMENT=jsonv2; when that becomes the default, the import path is
// all that changes.
type telemetryDecoder struct {
	r    bytes.Reader
	dec  jsontext.Decoder
	opts []jsontext.Options
	ws   []wireTelemetry // the samples of the payload being decoded
	name []byte          // an unescaped member name
}

// telemetryDecoders keeps decoders, with their buffers, between payloads:
// each shard goroutine of the pipeline decodes one message at a time.
var telemetryDecoders = sync.Pool{New: func() any {
	return &telemetryDecoder{opts: []jsontext.Options{
		jsontext.AllowDuplicateNames(true), // encoding/json takes the last
		jsontext.AllowInvalidUTF8(true),    // encoding/json replaces it with U+FFFD
	}}
}}

// release returns d to the pool, unless one large payload made its
// buffers worth giving back.
func (d *telemetryDecoder) release() {
	if cap(d.ws) > 64 {
		return
	}
	clear(d.ws)
	d.r.Reset(nil)
	telemetryDecoders.Put(d)
}

// telemetryNames are the members of wireTelemetry in field order, as
// wireTelemetry.field numbers them.
var telemetryNames = [...]string{"ts", "lat", "lon", "alt_m", "speed_kmh", "heading_deg", "battery_pct",
	"charging", "storage_free_mb", "storage_total_mb", "recording", "signal_dbm"}

// field returns the member numbered i (see telemetryNames) with the
// method that parses its raw JSON value.
func (w *wireTelemetry) field(i int) json.Unmarshaler {
	switch i {
	case 0:
		return &w.TS
	case 1:
		return &w.Lat
	case 2:
		return &w.Lon
	case 3:
		return &w.AltM
	case 4:
		return &w.SpeedKmh
	case 5:
		return &w.HeadingDeg
	case 6:
		return &w.BatteryPct
	case 7:
		return &w.Charging
	case 8:
		return &w.StorageFreeMB
	case 9:
		return &w.StorageTotalMB
	case 10:
		return &w.Recording
	}
	return &w.SignalDBm
}

// decode reads payload, an object or (array true) an array, into d.ws. A
// non-nil *PayloadError is the reason to refuse it.
func (d *telemetryDecoder) decode(payload []byte, array bool) ([]wireTelemetry, *PayloadError) {
	d.r.Reset(payload)
	d.dec.Reset(&d.r, d.opts...)
	d.ws = d.ws[:0]
	// bad is the first wrong type or out-of-range number: decoding stops
	// there. shape is the first array element that is not an object or
	// null: decoding goes on, and a bad member later wins over it, as with
	// encoding/json.
	var bad, shape *PayloadError
	var err error
	if _, err = d.dec.ReadToken(); err != nil { // '{' or '[', as firstByte saw
		return nil, syntaxError(err)
	}
	if !array {
		d.ws = append(d.ws, wireTelemetry{})
		bad, err = d.object(&d.ws[0], -1)
	} else {
	elements:
		for i := 0; ; i++ {
			switch k := d.dec.PeekKind(); k {
			case ']':
				_, err = d.dec.ReadToken()
				break elements
			case '{':
				if _, err = d.dec.ReadToken(); err != nil {
					break elements
				}
				d.ws = append(d.ws, wireTelemetry{})
				if bad, err = d.object(&d.ws[i], i); bad != nil || err != nil {
					break elements
				}
			case 'n': // a null element is an empty sample (ts missing)
				if _, err = d.dec.ReadToken(); err != nil {
					break elements
				}
				d.ws = append(d.ws, wireTelemetry{})
			default: // k is 0 when the next read reports a syntax error
				if err = d.dec.SkipValue(); err != nil {
					break elements
				}
				if shape == nil {
					shape = refuse(ReasonShape, "", "expected an object, got "+kindName(k))
				}
				d.ws = append(d.ws, wireTelemetry{})
			}
		}
	}
	if err != nil {
		return nil, syntaxError(err)
	}
	// encoding/json checked the whole payload before decoding it, so a
	// syntax error anywhere is the reason even after a bad member: read on.
	for d.dec.StackDepth() > 0 {
		if _, err := d.dec.ReadToken(); err != nil {
			return nil, syntaxError(err)
		}
	}
	if _, err := d.dec.ReadToken(); err != io.EOF {
		if err == nil {
			err = errors.New("invalid character after top-level value")
		}
		return nil, syntaxError(err)
	}
	switch {
	case bad != nil:
		return nil, bad
	case shape != nil:
		return nil, shape
	}
	return d.ws, nil
}

// object reads the members of an object whose '{' was read, up to its
// '}' or to the first bad member. elem is its index in an array, or -1.
func (d *telemetryDecoder) object(w *wireTelemetry, elem int) (bad *PayloadError, err error) {
	for {
		if d.dec.PeekKind() == '}' {
			_, err = d.dec.ReadToken()
			return nil, err
		}
		raw, err := d.dec.ReadValue() // the member name, quoted
		if err != nil {
			return nil, err
		}
		i := d.lookup(raw)
		if i < 0 {
			if err := d.dec.SkipValue(); err != nil {
				return nil, err
			}
			continue
		}
		v, err := d.dec.ReadValue()
		if err != nil {
			return nil, err
		}
		if err := w.field(i).UnmarshalJSON(v); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				te.Field = telemetryNames[i]
			}
			pe := decodeError(err).(*PayloadError)
			if elem >= 0 {
				pe.Field = "[" + strconv.Itoa(elem) + "]." + pe.Field
			}
			return pe, nil
		}
	}
}

// lookup finds the member named by raw (a JSON string with its quotes) in
// telemetryNames: exactly, or else as encoding/json does, ignoring case.
func (d *telemetryDecoder) lookup(raw jsontext.Value) int {
	name := []byte(raw[1 : len(raw)-1])
	if bytes.IndexByte(name, '\\') >= 0 {
		// Escapes: unquote. Invalid UTF-8 becomes U+FFFD and is reported,
		// but it is allowed here, as it was.
		d.name, _ = jsontext.AppendUnquote(d.name[:0], raw)
		name = d.name
	}
	switch string(name) {
	case "ts":
		return 0
	case "lat":
		return 1
	case "lon":
		return 2
	case "alt_m":
		return 3
	case "speed_kmh":
		return 4
	case "heading_deg":
		return 5
	case "battery_pct":
		return 6
	case "charging":
		return 7
	case "storage_free_mb":
		return 8
	case "storage_total_mb":
		return 9
	case "recording":
		return 10
	case "signal_dbm":
		return 11
	}
	if len(name) > len("storage_total_mb")*utf8.UTFMax {
		return -1 // too long to fold to any of them
	}
	var buf [len("storage_total_mb") * utf8.UTFMax]byte
	switch string(appendFoldedName(buf[:0], name)) {
	case "TS":
		return 0
	case "LAT":
		return 1
	case "LON":
		return 2
	case "ALT_M":
		return 3
	case "SPEED_KMH":
		return 4
	case "HEADING_DEG":
		return 5
	case "BATTERY_PCT":
		return 6
	case "CHARGING":
		return 7
	case "STORAGE_FREE_MB":
		return 8
	case "STORAGE_TOTAL_MB":
		return 9
	case "RECORDING":
		return 10
	case "SIGNAL_DBM":
		return 11
	}
	return -1
}

// appendFoldedName folds a member name the way encoding/json matches
// names to fields when the exact name is not found (its fold.go):
// ASCII upper case, and every other rune to the smallest of its simple
// case folding orbit, so "ſ" (U+017F) matches "s" and "K" (U+212A) "k".
func appendFoldedName(out, in []byte) []byte {
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		out = utf8.AppendRune(out, r)
		i += n
	}
	return out
}

// kindName names a JSON kind as encoding/json's type errors do.
func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

func syntaxError(err error) *PayloadError {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return refuse(ReasonSyntax, "", "unexpected end of JSON input")
	}
	return refuse(ReasonSyntax, "", err.Error())
}
