package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
)

func TestUIConfig(t *testing.T) {
	tests := []struct {
		name    string
		m       MapConfig
		wantImg string // what img-src must start with
	}{
		{"no tiles", MapConfig{}, "img-src 'self'"},
		{"tiles here", MapConfig{TileURL: "/tiles/{z}/{x}/{y}.png"}, "img-src 'self'"},
		{"tile server", MapConfig{TileURL: "https://tiles.gov.internal:8443/{z}/{x}/{y}.png", TileAttribution: "省测绘院"},
			"img-src https://tiles.gov.internal:8443 'self'"},
		{"subdomains", MapConfig{TileURL: "http://{s}.tile.local/{z}/{x}/{y}.png"}, "img-src http://s.tile.local 'self'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, sqltest.SQLite(t), func(d *Deps) {})
			e.server.cfg.Map = tt.m
			e.server.cfg.ContentSecurityPolicy = cspWithTiles(DefaultCSP, tt.m)
			admin := e.login(t, "admin", adminPassword)
			var got MapConfig
			r := admin.mustDo(t, http.MethodGet, "/api/v1/ui/config", nil, http.StatusOK, &got)
			if got.TileURL != tt.m.TileURL || got.TileAttribution != tt.m.TileAttribution {
				t.Errorf("config = %+v", got)
			}
			if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, tt.wantImg) {
				t.Errorf("CSP %q lacks %q", csp, tt.wantImg)
			}
			e.anon().mustDo(t, http.MethodGet, "/api/v1/ui/config", nil, http.StatusUnauthorized, nil)
		})
	}
}
