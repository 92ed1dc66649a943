package main

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"
)

func TestParseConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(Config) bool
		wantErr bool
	}{
		{"defaults", nil, nil, func(c Config) bool {
			return c.HTTPAddr == ":8080" && c.MQTTAddr == ":1883" && c.RTSPAddr == ":8554" &&
				c.DB == filepath.Join("data", "fleet.db") && c.LogLevel == slog.LevelInfo
		}, false},
		{"env", nil, map[string]string{"FLEET_HTTP": ":9000", "FLEET_INFLUX_URL": "http://x:8086", "FLEET_DATA": "/srv/fleet"},
			func(c Config) bool {
				return c.HTTPAddr == ":9000" && c.InfluxURL == "http://x:8086" && c.DB == "/srv/fleet/fleet.db"
			}, false},
		{"flag beats env", []string{"-http", ":7000"}, map[string]string{"FLEET_HTTP": ":9000"},
			func(c Config) bool { return c.HTTPAddr == ":7000" }, false},
		{"external broker disables embedded", []string{"-mqtt-url", "tcp://127.0.0.1:1883"}, nil,
			func(c Config) bool { return c.MQTTAddr == "" }, false},
		{"video reader secret", []string{"-video-reader-secret", "s3cret"}, nil,
			func(c Config) bool { return c.VideoReaderSecret == "s3cret" }, false},
		{"video reader secret from env", nil, map[string]string{"FLEET_VIDEO_READER_SECRET": "from-env"},
			func(c Config) bool { return c.VideoReaderSecret == "from-env" }, false},
		{"bad env bool", nil, map[string]string{"FLEET_DEMO": "maybe"}, nil, true},
		{"bad level", []string{"-log-level", "loud"}, nil, nil, true},
		{"stray argument", []string{"serve"}, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig(tt.args, env(tt.env), io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && !tt.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}
