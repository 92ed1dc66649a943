package mqttbroker_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/ingest/mqttbroker"
)

func TestHTTPAuth(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := mqttbroker.NewHTTPAuth(mqttbroker.HTTPAuthConfig{ServiceUsername: "fleetd", ServiceSecret: "s3rvice"},
		newRegister(), reg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mqtt/auth", h.AuthHandler())
	mux.Handle("/mqtt/acl", h.ACLHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	const (
		jsonCT = "application/json"
		formCT = "application/x-www-form-urlencoded"
	)
	tests := []struct {
		name, path, method, ct, body string
		allow                        bool
	}{
		// EMQX 5: JSON body from its request template.
		{"emqx auth", "/mqtt/auth", "POST", jsonCT, `{"username":"rec1","password":"secret-rec1","clientid":"rec1"}`, true},
		{"emqx auth wrong secret", "/mqtt/auth", "POST", jsonCT, `{"username":"rec1","password":"x","clientid":"rec1"}`, false},
		{"emqx auth client id mismatch", "/mqtt/auth", "POST", jsonCT, `{"username":"rec1","password":"secret-rec1","clientid":"rec2"}`, false},
		{"emqx auth register down", "/mqtt/auth", "POST", jsonCT, `{"username":"rec_down","password":"x","clientid":"rec_down"}`, false},
		{"emqx auth service", "/mqtt/auth", "POST", jsonCT, `{"username":"fleetd","password":"s3rvice","clientid":"fleetd-1"}`, true},
		{"emqx auth service wrong", "/mqtt/auth", "POST", jsonCT, `{"username":"fleetd","password":"nope","clientid":"fleetd-1"}`, false},
		{"emqx acl publish own", "/mqtt/acl", "POST", jsonCT, `{"username":"rec1","clientid":"rec1","topic":"fleet/v1/rec1/telemetry","action":"publish"}`, true},
		{"emqx acl publish foreign", "/mqtt/acl", "POST", jsonCT, `{"username":"rec1","clientid":"rec1","topic":"fleet/v1/rec2/telemetry","action":"publish"}`, false},
		{"emqx acl publish own cmd", "/mqtt/acl", "POST", jsonCT, `{"username":"rec1","clientid":"rec1","topic":"fleet/v1/rec1/cmd/x","action":"publish"}`, false},
		{"emqx acl subscribe own cmd", "/mqtt/acl", "POST", jsonCT, `{"username":"rec1","clientid":"rec1","topic":"fleet/v1/rec1/cmd/#","action":"subscribe"}`, true},
		{"emqx acl subscribe wildcard", "/mqtt/acl", "POST", jsonCT, `{"username":"rec1","clientid":"rec1","topic":"fleet/v1/+/cmd/#","action":"subscribe"}`, false},
		{"emqx acl service shared", "/mqtt/acl", "POST", jsonCT, `{"username":"fleetd","clientid":"fleetd-1","topic":"$share/ingest/fleet/v1/+/telemetry","action":"subscribe"}`, true},
		{"emqx acl unknown action", "/mqtt/acl", "POST", jsonCT, `{"username":"rec1","clientid":"rec1","topic":"fleet/v1/rec1/telemetry","action":"delete"}`, false},
		{"emqx acl GET query", "/mqtt/acl?username=rec1&clientid=rec1&topic=fleet%2Fv1%2Frec1%2Fevent&action=publish", "GET", "", "", true},
		// mosquitto-go-auth: JSON with acc as a number, or a form.
		{"go-auth user", "/mqtt/auth", "POST", jsonCT, `{"username":"rec2","password":"secret-rec2","clientid":"rec2"}`, true},
		{"go-auth acl write", "/mqtt/acl", "POST", jsonCT, `{"username":"rec2","clientid":"rec2","topic":"fleet/v1/rec2/state","acc":2}`, true},
		{"go-auth acl read own cmd", "/mqtt/acl", "POST", jsonCT, `{"username":"rec2","clientid":"rec2","topic":"fleet/v1/rec2/cmd/stream.start","acc":1}`, true},
		{"go-auth acl subscribe", "/mqtt/acl", "POST", jsonCT, `{"username":"rec2","clientid":"rec2","topic":"fleet/v1/rec2/cmd/#","acc":4}`, true},
		{"go-auth acl readwrite cmd", "/mqtt/acl", "POST", jsonCT, `{"username":"rec2","clientid":"rec2","topic":"fleet/v1/rec2/cmd/x","acc":3}`, false},
		{"go-auth acl read foreign", "/mqtt/acl", "POST", jsonCT, `{"username":"rec2","clientid":"rec2","topic":"fleet/v1/rec1/telemetry","acc":1}`, false},
		{"go-auth acl bad acc", "/mqtt/acl", "POST", jsonCT, `{"username":"rec2","clientid":"rec2","topic":"fleet/v1/rec2/state","acc":9}`, false},
		{"form user", "/mqtt/auth", "POST", formCT, form("username", "rec3", "password", "secret-rec3", "clientid", "rec3"), true},
		{"form acl", "/mqtt/acl", "POST", formCT, form("username", "rec3", "clientid", "rec3", "topic", "fleet/v1/rec3/telemetry", "acc", "2"), true},
		{"form acl foreign", "/mqtt/acl", "POST", formCT, form("username", "rec3", "clientid", "rec3", "topic", "fleet/v1/rec1/telemetry", "acc", "2"), false},
		{"bad JSON", "/mqtt/auth", "POST", jsonCT, `{"username":`, false},
		{"huge body", "/mqtt/auth", "POST", jsonCT, `{"username":"` + strings.Repeat("x", 1<<20) + `"}`, false},
		{"DELETE", "/mqtt/auth", "DELETE", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var ans struct {
				Result string `json:"result"`
				OK     bool   `json:"ok"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
				t.Fatal(err)
			}
			// EMQX 5 reads any status but 200/204 as "ignore": a deny is a 200 too.
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			want := map[bool]string{true: "allow", false: "deny"}[tt.allow]
			if ans.Result != want || ans.OK != tt.allow {
				t.Fatalf("got %+v, want %s", ans, want)
			}
		})
	}
	if got := metric(t, reg, "fleet_mqtt_httpauth_refused_total", "reason", mqttbroker.RefusedPublish); got != 4 {
		t.Errorf("refused{publish_acl} = %v", got)
	}
	if got := metric(t, reg, "fleet_mqtt_httpauth_requests_total", "endpoint", "auth", "result", "allow"); got != 4 {
		t.Errorf("requests{auth,allow} = %v", got)
	}
}

func TestHTTPAuthDenyStatus(t *testing.T) {
	h, err := mqttbroker.NewHTTPAuth(mqttbroker.HTTPAuthConfig{DenyStatus: http.StatusForbidden}, newRegister(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for body, status := range map[string]int{
		`{"username":"rec1","password":"secret-rec1","clientid":"rec1"}`: http.StatusOK,
		`{"username":"rec1","password":"wrong","clientid":"rec1"}`:       http.StatusForbidden,
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/mqtt/auth", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.AuthHandler().ServeHTTP(rec, req)
		if rec.Code != status {
			t.Errorf("%s: status %d, want %d", body, rec.Code, status)
		}
	}
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}
