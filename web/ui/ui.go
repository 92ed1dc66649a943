// Package ui is the browser interface of the fleet service: static HTML, CSS and ES modules,
// embedded into the binary so that it works on machines with no network, with no build step.
//
// It owns only files; the Gin API in package web mounts FS at "/" with an index.html fallback.
// It must not import the domain or the API: the browser speaks to them over HTTP only.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// FS returns the UI's files with index.html at the root.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// fs.Sub fails only on an invalid path, and "static" is a constant.
		panic(err)
	}
	return sub
}
