package web

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// openapiDoc describes every route of the API. It is written by hand;
// TestOpenAPICoversRoutes fails when a route and the document disagree.
//
//go:embed openapi.json
var openapiDoc []byte

func (s *Server) openapi(c *gin.Context) {
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "application/json", openapiDoc)
}

// UndocumentedRoutes lists the routes registered on s (those added with
// Mount included) that openapi.json does not describe, as "METHOD /path".
// Whoever mounts routes calls it in a test, so the document cannot drift.
func (s *Server) UndocumentedRoutes() ([]string, error) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	var missing []string
	for _, r := range s.engine.Routes() {
		p := openapiPath(r.Path)
		if _, ok := doc.Paths[p][strings.ToLower(r.Method)]; !ok {
			missing = append(missing, r.Method+" "+p)
		}
	}
	slices.Sort(missing)
	return missing, nil
}

// openapiPath writes gin's "/devices/:id" as OpenAPI's "/devices/{id}".
func openapiPath(ginPath string) string {
	parts := strings.Split(ginPath, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") || strings.HasPrefix(p, "*") {
			parts[i] = "{" + p[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}
