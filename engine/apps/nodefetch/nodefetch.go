// Package nodefetch holds the preload that makes Node's built-in fetch go
// through the sandbox's egress proxy (Node 20's fetch ignores
// HTTPS_PROXY; curl in the same sandbox does not), and writes it into an
// imported server's install folder, where its manifest names it:
//
//	node --require ${install}/.isolategpt/fetch-proxy.cjs ${install}/…/server.js
//
// The preload only chooses the route; the egress proxy still decides
// every connection, so a server that removes it reaches nothing more.
package nodefetch

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"

	"github.com/isolategpt/isolategpt/specs"
)

// Preload is the script, for node --require.
//
//go:embed fetch-proxy.cjs
var Preload []byte

// RelPath is where Install puts it, relative to an install folder.
const RelPath = ".isolategpt/fetch-proxy.cjs"

// Arg is the manifest's argument that names it: ${install}/RelPath.
const Arg = specs.PlaceholderInstall + "/" + RelPath

// Install writes the preload into dir (readable by the sandbox's user),
// unless the same bytes are there already.
func Install(dir string) error {
	p := filepath.Join(dir, filepath.FromSlash(RelPath))
	if b, err := os.ReadFile(p); err == nil && bytes.Equal(b, Preload) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("install the fetch preload: %w", err)
	}
	if err := os.Chmod(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("install the fetch preload: %w", err)
	}
	if err := os.WriteFile(p, Preload, 0o644); err != nil {
		return fmt.Errorf("install the fetch preload: %w", err)
	}
	return os.Chmod(p, 0o644)
}
