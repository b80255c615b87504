package apps

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/specs"
)

// Candidate is a manifest read from a file, not yet approved.
type Candidate struct {
	Manifest *specs.Manifest
	// Source is the file's absolute path; Dir its folder, which an MCP
	// app's ${install} names.
	Source string
	Dir    string
	// Tools, when set, is the tools/list the user reviewed with the
	// manifest (apps import): Install pins it, so the first start is
	// checked against it rather than pinning whatever the server says.
	Tools []sandbox.Tool
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

// Unreadable names the files under ${install} that the sandbox's user
// (uid, gid on the host) could not reach by file mode: the server would
// fail to start. Landlock admits the install folder; the file modes on the
// way to it still apply.
func (c *Candidate) Unreadable(uid, gid int) []string {
	if c.Manifest.MCP == nil || uid == 0 {
		return nil
	}
	var out []string
	for _, s := range append([]string{c.Manifest.MCP.Command}, c.Manifest.MCP.Args...) {
		if !strings.HasPrefix(s, specs.PlaceholderInstall) {
			continue
		}
		p := specs.Expand(s, c.Dir, "")
		if !reachableBy(p, uid, gid) {
			out = append(out, p)
		}
	}
	return out
}

// Blocked returns the first folder on the way to dir (dir included) that
// uid/gid may not search, or "" when it can reach dir: where a server's
// install folder must not be. Root (uid 0) is never blocked.
func Blocked(dir string, uid, gid int) string {
	if uid == 0 {
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	cur := "/"
	for _, part := range append([]string{""}, strings.Split(strings.TrimPrefix(abs, "/"), "/")...) {
		cur = filepath.Join(cur, part)
		if !permits(cur, uid, gid, 1) {
			return cur
		}
	}
	return ""
}

// reachableBy reports whether uid/gid may search every folder on the way
// to path and read path itself.
func reachableBy(path string, uid, gid int) bool {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	parts := strings.Split(strings.TrimPrefix(abs, "/"), "/")
	cur := "/"
	for i := 0; i <= len(parts); i++ {
		want := uint32(1) // search
		if i == len(parts) {
			want = 4 // read
		}
		if !permits(cur, uid, gid, want) {
			return false
		}
		if i < len(parts) {
			cur = filepath.Join(cur, parts[i])
		}
	}
	return true
}

func permits(path string, uid, gid int, bit uint32) bool {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return false
	}
	mode := st.Mode & 0o777
	switch {
	case int(st.Uid) == uid:
		return mode&(bit<<6) != 0
	case int(st.Gid) == gid:
		return mode&(bit<<3) != 0
	}
	return mode&bit != 0
}
