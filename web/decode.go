package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/fleet"
)

// DecodeJSON reads the request's JSON body into v. The body must be
// application/json, within the JSON size limit, one value with no unknown
// fields. Failures are *fleet.Error values naming the field at fault (or
// "body" when the JSON itself is broken), ready for WriteError.
func DecodeJSON(c *gin.Context, v any) error { return decodeJSON(c, v, false) }

// decodeOptional is DecodeJSON for bodies that may be left out entirely.
func decodeOptional(c *gin.Context, v any) error { return decodeJSON(c, v, true) }

func decodeJSON(c *gin.Context, v any, optional bool) error {
	r := c.Request
	limit := jsonLimit(c)
	if r.ContentLength > limit {
		// Refused from the header alone, before a byte is read.
		return tooLarge(limit)
	}
	if r.ContentLength == 0 {
		if optional {
			return nil
		}
		return fleet.Invalid("body", "the request body is empty; send a JSON object")
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return &fleet.Error{Code: EMEDIATYPE, Field: "Content-Type",
			Message: "send the body as application/json"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return tooLarge(limit)
	} else if err != nil {
		return fleet.Invalid("body", "the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return fleet.Invalid("body", "the request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, body, reflect.TypeOf(v))
	}
	if _, err := dec.Token(); err != io.EOF {
		return fleet.Invalid("body", "unexpected data after the JSON value at byte %d", dec.InputOffset())
	}
	return nil
}

func tooLarge(limit int64) error {
	return &fleet.Error{Code: ETOOLARGE, Field: "body",
		Message: fmt.Sprintf("the request body is larger than %d bytes", limit)}
}

// isJSON accepts application/json and the +json types (merge-patch etc.).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// jsonError turns a decoding failure into an invalid-input error that
// names the field.
func jsonError(err error, body []byte, t reflect.Type) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		line, col := position(body, syntax.Offset)
		return fleet.Invalid("body", "malformed JSON at line %d, column %d: %s", line, col, syntax.Error())
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		line, col := position(body, int64(len(body)))
		return fleet.Invalid("body", "malformed JSON: the body ends early at line %d, column %d", line, col)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return fleet.Invalid(field, "%s must be %s, not a %s", field, describe(typ.Type), typ.Value)
	}
	// An unknown field, or a value a type's UnmarshalJSON refused (a bad
	// date): encoding/json does not say where, so find it.
	field, _ := locate(body, t, "")
	if field == "" {
		field = "body"
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, uerr := strconv.Unquote(name); uerr == nil {
			name = n
		}
		return fleet.Invalid(field, "unknown field %q", name)
	}
	return fleet.Invalid(field, "%s: %s", field, strings.TrimPrefix(err.Error(), "json: "))
}

// position converts a byte offset into a 1-based line and column.
func position(body []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(body)))
	before := body[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, max(col, 1)
}

func describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "of type " + t.String()
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// locate finds the first key of raw that t has no field for, or the first
// value that does not decode into its field's type, and returns its dotted
// path. Keys are visited in sorted order, so the answer is stable.
func locate(raw []byte, t reflect.Type, path string) (string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return "", false
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if json.Unmarshal(raw, reflect.New(t).Interface()) != nil {
			return path, true
		}
		return "", false
	}
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return path, true
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				for name, typ := range fields {
					if strings.EqualFold(name, k) {
						ft, ok = typ, true
						break
					}
				}
			}
			if !ok {
				return join(path, k), true
			}
			if p, bad := locate(obj[k], ft, join(path, k)); bad {
				return p, true
			}
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			break
		}
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return path, true
		}
		for i, item := range items {
			if p, bad := locate(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); bad {
				return p, true
			}
		}
		return "", false
	}
	if json.Unmarshal(raw, reflect.New(t).Interface()) != nil {
		return path, true
	}
	return "", false
}

// jsonFields maps the JSON names of struct t to their types, with
// embedded structs flattened as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, taken := out[k]; !taken {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// List is the JSON shape of every list: the items and the cursor of the
// next page, null at the end.
type List[T any] struct {
	Items []T     `json:"items"`
	Next  *string `json:"next"`
}

// WriteList answers 200 with items and the next-page cursor.
func WriteList[T any](c *gin.Context, items []T, next string) {
	if items == nil {
		items = []T{}
	}
	l := List[T]{Items: items}
	if next != "" {
		l.Next = &next
	}
	c.JSON(http.StatusOK, l)
}

// MaxListLimit bounds a page.
const MaxListLimit = 500

// pageOf reads limit and after from the query.
func pageOf(c *gin.Context) (fleet.Page, error) {
	p := fleet.Page{After: c.Query("after")}
	if s, ok := c.GetQuery("limit"); ok && s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			return p, fleet.Invalid("limit", "limit must be an integer from 1 to %d", MaxListLimit)
		}
		p.Limit = n
	}
	return p, nil
}

// boolQuery reads an optional true/false query parameter.
func boolQuery(c *gin.Context, name string) (bool, error) {
	s := c.Query(name)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fleet.Invalid(name, "%s must be true or false", name)
	}
	return b, nil
}
