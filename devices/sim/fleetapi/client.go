// Package fleetapi is a small typed client of the fleet service's public
// HTTP API (/api/v1), as an operator's script would use it: bearer token
// from POST /session, JSON bodies, {items, next} pages and
// {error:{code,message,field}} errors. It reuses the request and response
// shapes of package fleet so that the two cannot drift apart.
//
// It belongs to the device simulator and must not import the service's
// own packages beyond fleet (no web, no store): it sees the service only
// through HTTP.
package fleetapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

// Client calls one fleet service. Sign in with Login before anything else;
// after that a Client is safe for concurrent use.
type Client struct {
	base  *url.URL
	hc    *http.Client
	token string
}

// New returns a client of the service at base (e.g. http://127.0.0.1:8080).
// hc nil gets a client with a 30 s timeout and a connection pool sized for
// a handful of concurrent requests.
func New(base string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("api url %q: want http(s)://host[:port]", base)
	}
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32
		hc = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	}
	return &Client{base: u, hc: hc}, nil
}

// Error is an error answer of the API.
type Error struct {
	Method, Path string
	Status       int
	Code         string // fleet error code: not_found, invalid, conflict, …
	Message      string
	Field        string
	// Rows lists the bad rows of a refused import (422): nothing was
	// imported.
	Rows []fleet.RowError
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Message)
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	for i, r := range e.Rows {
		if i == 5 {
			s += fmt.Sprintf("; … %d more", len(e.Rows)-i)
			break
		}
		s += fmt.Sprintf("; row %d %s: %s", r.Row, r.Field, r.Message)
	}
	return s
}

// Status returns the HTTP status of the API error in err's chain, or 0.
func Status(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Unreachable reports whether err means the service is not (yet) there:
// nothing listens, or a proxy or the service says it is not ready. Worth
// retrying while the service starts; anything else is not.
func Unreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	switch Status(err) {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Login signs in and keeps the session token for later calls.
func (c *Client) Login(ctx context.Context, username, password string) error {
	var out struct {
		Token string `json:"token"`
	}
	in := map[string]string{"username": username, "password": password}
	if err := c.do(ctx, http.MethodPost, "/api/v1/session", in, &out); err != nil {
		return err
	}
	if out.Token == "" {
		return fmt.Errorf("sign in: the service answered no token")
	}
	c.token = out.Token
	return nil
}

func (c *Client) CreateUnit(ctx context.Context, in fleet.UnitInput) (u fleet.Unit, err error) {
	return u, c.do(ctx, http.MethodPost, "/api/v1/units", in, &u)
}

// Units lists every unit the signed-in user sees.
func (c *Client) Units(ctx context.Context) ([]fleet.Unit, error) {
	return list[fleet.Unit](ctx, c, "/api/v1/units", nil)
}

func (c *Client) CreateOfficer(ctx context.Context, in fleet.OfficerInput) (o fleet.Officer, err error) {
	return o, c.do(ctx, http.MethodPost, "/api/v1/officers", in, &o)
}

// Officers lists every officer the signed-in user sees.
func (c *Client) Officers(ctx context.Context) ([]fleet.Officer, error) {
	return list[fleet.Officer](ctx, c, "/api/v1/officers", nil)
}

// ImportOfficers uploads a roster file (CSV or XLSX) as the multipart
// field "file". The import is all or nothing: a roster with bad rows is
// refused whole with an *Error listing them in Rows.
func (c *Client) ImportOfficers(ctx context.Context, filename string, data []byte) (res fleet.ImportResult, err error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		return res, err
	}
	if _, err := fw.Write(data); err != nil {
		return res, err
	}
	if err := mw.Close(); err != nil {
		return res, err
	}
	return res, c.send(ctx, http.MethodPost, "/api/v1/officers/import", mw.FormDataContentType(), &body, &res)
}

func (c *Client) CreateDevice(ctx context.Context, in fleet.DeviceInput) (d fleet.NewDevice, err error) {
	return d, c.do(ctx, http.MethodPost, "/api/v1/devices", in, &d)
}

func (c *Client) UpdateDevice(ctx context.Context, id string, p fleet.DevicePatch) (d fleet.Device, err error) {
	return d, c.do(ctx, http.MethodPatch, "/api/v1/devices/"+url.PathEscape(id), p, &d)
}

// Devices lists every device the signed-in user sees.
func (c *Client) Devices(ctx context.Context) ([]fleet.Device, error) {
	return list[fleet.Device](ctx, c, "/api/v1/devices", nil)
}

func (c *Client) Checkout(ctx context.Context, deviceID string, in fleet.CheckoutInput) (a fleet.Assignment, err error) {
	return a, c.do(ctx, http.MethodPost, "/api/v1/devices/"+url.PathEscape(deviceID)+"/checkout", in, &a)
}

// Assignments lists assignments; openOnly keeps those still running.
func (c *Client) Assignments(ctx context.Context, openOnly bool) ([]fleet.Assignment, error) {
	q := url.Values{}
	if openOnly {
		q.Set("open", "true")
	}
	return list[fleet.Assignment](ctx, c, "/api/v1/assignments", q)
}

func (c *Client) CreateUser(ctx context.Context, in fleet.UserInput) (u fleet.User, err error) {
	return u, c.do(ctx, http.MethodPost, "/api/v1/users", in, &u)
}

// Users lists every user the signed-in user may see.
func (c *Client) Users(ctx context.Context) ([]fleet.User, error) {
	return list[fleet.User](ctx, c, "/api/v1/users", nil)
}

// pageSize is asked of every list; the service may answer fewer.
const pageSize = 500

// list follows a list's pages to the end.
func list[T any](ctx context.Context, c *Client, path string, q url.Values) ([]T, error) {
	if q == nil {
		q = url.Values{}
	}
	q.Set("limit", fmt.Sprint(pageSize))
	var all []T
	for range 100_000 { // bounds a service that keeps answering the same cursor
		var page struct {
			Items []T    `json:"items"`
			Next  string `json:"next"`
		}
		if err := c.do(ctx, http.MethodGet, path+"?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.Next == "" || len(page.Items) == 0 {
			return all, nil
		}
		q.Set("after", page.Next)
	}
	return nil, fmt.Errorf("GET %s: too many pages", path)
}

// do sends in as JSON (nil: no body) and decodes a 2xx answer into out.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	return c.send(ctx, method, path, ctype, body, out)
}

func (c *Client) send(ctx context.Context, method, path, ctype string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	// Answers here are small JSON documents; 64 MiB bounds a runaway one.
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(method, path, resp.StatusCode, data)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func decodeError(method, path string, status int, data []byte) error {
	e := &Error{Method: method, Path: path, Status: status}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
		Rows []fleet.RowError `json:"rows"`
	}
	if json.Unmarshal(data, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message, e.Field, e.Rows = body.Error.Code, body.Error.Message, body.Error.Field, body.Rows
		return e
	}
	e.Code = strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	e.Message = msg
	return e
}
