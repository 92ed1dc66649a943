package fleetapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/lawfleet/fleet/fleet"
)

func TestNew(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"https://fleet.example/", true},
		{"127.0.0.1:8080", false},
		{"ftp://x", false},
		{"http://", false},
	}
	for _, tt := range tests {
		if _, err := New(tt.url, nil); (err == nil) != tt.ok {
			t.Errorf("New(%q): %v", tt.url, err)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        string
		code, field string
		unreachable bool
	}{
		{"api error", 400, `{"error":{"code":"invalid","message":"name is required","field":"name"}}`, "invalid", "name", false},
		{"conflict", 409, `{"error":{"code":"conflict","message":"taken"}}`, "conflict", "", false},
		{"not json", 502, `<html>bad gateway</html>`, "bad_gateway", "", true},
		{"unavailable", 503, `{"error":{"code":"unavailable","message":"starting"}}`, "unavailable", "", true},
		{"empty", 404, ``, "not_found", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c, err := New(srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.CreateUnit(context.Background(), fleet.UnitInput{})
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			if e.Status != tt.status || e.Code != tt.code || e.Field != tt.field || e.Message == "" {
				t.Errorf("error %+v, want status %d code %s field %q", e, tt.status, tt.code, tt.field)
			}
			if Status(fmt.Errorf("wrapped: %w", err)) != tt.status {
				t.Errorf("Status of a wrapped error lost")
			}
			if Unreachable(err) != tt.unreachable {
				t.Errorf("Unreachable = %v", !tt.unreachable)
			}
		})
	}
}

func TestUnreachableRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c, err := New("http://"+addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Login(context.Background(), "admin", "x")
	if err == nil || !Unreachable(err) {
		t.Fatalf("Login to a closed port: %v, want unreachable", err)
	}
}

// TestLoginAndPages checks the bearer token and that lists follow "next"
// to the end.
func TestLoginAndPages(t *testing.T) {
	const total = 1234
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/session", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Username, Password string }
		json.NewDecoder(r.Body).Decode(&in)
		if in.Username != "admin" || in.Password != "pw" {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"code":"unauthorized","message":"wrong username or password"}}`)
			return
		}
		io.WriteString(w, `{"token":"tok"}`)
	})
	mux.HandleFunc("GET /api/v1/units", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			return
		}
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		after, _ := strconv.Atoi(r.URL.Query().Get("after"))
		var page struct {
			Items []fleet.Unit `json:"items"`
			Next  *string      `json:"next"`
		}
		for i := after; i < min(after+limit, total); i++ {
			page.Items = append(page.Items, fleet.Unit{ID: strconv.Itoa(i)})
		}
		if after+limit < total {
			next := strconv.Itoa(after + limit)
			page.Next = &next
		}
		json.NewEncoder(w).Encode(page)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := New(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Login(ctx, "admin", "bad"); Status(err) != 401 {
		t.Fatalf("Login with a bad password: %v", err)
	}
	if err := c.Login(ctx, "admin", "pw"); err != nil {
		t.Fatal(err)
	}
	units, err := c.Units(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(units) != total {
		t.Fatalf("%d units, want %d", len(units), total)
	}
	for i, u := range units {
		if u.ID != strconv.Itoa(i) {
			t.Fatalf("unit %d is %s", i, u.ID)
		}
	}
}
