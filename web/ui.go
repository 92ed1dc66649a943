package web

import (
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/fleet"
)

// serveUI serves the embedded browser UI: a file when the path names
// one, index.html for any other page path, so that the single-page app's
// own routes survive a reload. A missing file with an extension (a stale
// script or image) is a 404, not a page.
func (s *Server) serveUI(c *gin.Context) {
	name := strings.TrimPrefix(path.Clean("/"+c.Request.URL.Path), "/")
	if name == "" || name == "index.html" {
		s.serveIndex(c)
		return
	}
	if fs.ValidPath(name) {
		if st, err := fs.Stat(s.ui, name); err == nil && !st.IsDir() {
			http.ServeFileFS(c.Writer, c.Request, s.ui, name)
			return
		}
	}
	if path.Ext(name) != "" {
		WriteError(c, fleet.Errorf(fleet.ENOTFOUND, "no such file: /%s", name))
		return
	}
	s.serveIndex(c)
}

func (s *Server) serveIndex(c *gin.Context) {
	page, err := fs.ReadFile(s.ui, "index.html")
	if err != nil {
		WriteError(c, fleet.Errorf(fleet.ENOTFOUND, "the UI has no index.html"))
		return
	}
	// The page names its hashed assets; it must be fetched fresh after an
	// upgrade.
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "text/html; charset=utf-8", page)
}
