package main

import (
	"io"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr bool
		check   func(config) bool
	}{
		{"defaults", nil, map[string]string{"FLEET_ADMIN_PASSWORD": "pw"}, false, func(c config) bool {
			return c.command == "seed" && c.api == "http://127.0.0.1:8080" && c.user == "admin" && c.password == "pw" &&
				c.seed == 1 && c.officers == 300 && c.devices == 0 && c.mqtt == "127.0.0.1:1883" &&
				c.state == "devsim-state.json" && c.concurrency == 8 && c.wait == 30*time.Second
		}},
		{"flags", []string{"seed", "-api", "http://h:1", "-seed", "9", "-officers", "50", "-devices", "70", "-password", "x"},
			nil, false, func(c config) bool {
				return c.api == "http://h:1" && c.seed == 9 && c.officers == 50 && c.devices == 70 && c.password == "x"
			}},
		{"environment", []string{"run"}, map[string]string{"DEVSIM_SEED": "5", "DEVSIM_STATE": "/tmp/s.json",
			"DEVSIM_DEMO_PASSWORD": "12345678", "DEVSIM_PASSWORD": "envpw", "FLEET_ADMIN_PASSWORD": "fleetpw"}, false,
			func(c config) bool {
				return c.command == "run" && c.seed == 5 && c.state == "/tmp/s.json" && c.demoPassword == "12345678" &&
					c.password == "envpw"
			}},
		{"flag beats environment", []string{"-seed", "3", "-password", "p"}, map[string]string{"DEVSIM_SEED": "5"}, false,
			func(c config) bool { return c.seed == 3 }},
		{"no password", nil, nil, true, nil},
		{"bad env value", []string{"-password", "p"}, map[string]string{"DEVSIM_OFFICERS": "many"}, true, nil},
		{"bad count", []string{"-password", "p", "-officers", "0"}, nil, true, nil},
		{"unknown command", []string{"play"}, nil, true, nil},
		{"stray argument", []string{"seed", "-password", "p", "extra"}, nil, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			c, err := parseConfig(tt.args, getenv, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseConfig: %v, want error %v", err, tt.wantErr)
			}
			if err == nil && !tt.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}
