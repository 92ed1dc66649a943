package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
)

// MapConfig is what the command-centre map needs from the server. The
// machines are often offline, so there is no default tile server: without
// one the map draws a graticule and the markers.
type MapConfig struct {
	TileURL         string      `json:"tile_url,omitempty"` // e.g. https://tiles.internal/{z}/{x}/{y}.png
	TileAttribution string      `json:"tile_attribution,omitempty"`
	TileMaxZoom     int         `json:"tile_max_zoom,omitempty"`
	Center          *[2]float64 `json:"map_center,omitempty"` // lat, lon
	Zoom            int         `json:"map_zoom,omitempty"`
}

// tileOrigin is the scheme://host of an absolute tile URL, which the CSP
// must let images come from; "" for a path on this server.
func (m MapConfig) tileOrigin() string {
	u, err := url.Parse(strings.NewReplacer("{", "", "}", "").Replace(m.TileURL))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// cspWithTiles adds the tile server's origin to img-src.
func cspWithTiles(csp string, m MapConfig) string {
	origin := m.tileOrigin()
	if origin == "" {
		return csp
	}
	return strings.Replace(csp, "img-src ", "img-src "+origin+" ", 1)
}

func (s *Server) uiConfig(c *gin.Context) {
	c.JSON(http.StatusOK, s.cfg.Map)
}
