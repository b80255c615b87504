package apps

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/isolategpt/isolategpt/specs"
)

// Candidate is a manifest read from a file, not yet approved.
type Candidate struct {
	Manifest *specs.Manifest
	// Source is the file's absolute path; Dir its folder, which an MCP
	// app's ${install} names.
	Source string
	Dir    string
}

// Load reads and checks a manifest file for installing. The file is read
// once, through a size cap: what the user is shown is what gets pinned.
// For an MCP app every path under ${install} must exist.
func Load(path string) (*Candidate, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, specs.MaxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	m, err := specs.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	c := &Candidate{Manifest: m, Source: abs, Dir: dir}
	if m.MCP != nil {
		for _, s := range append([]string{m.MCP.Command}, m.MCP.Args...) {
			if !strings.HasPrefix(s, specs.PlaceholderInstall) {
				continue
			}
			p := specs.Expand(s, dir, "")
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("load %s: %s names %s: %w", path, s, p, err)
			}
		}
	}
	return c, nil
}
