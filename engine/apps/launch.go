package apps

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/specs"
)

func usesData(c *specs.MCP) bool {
	for _, s := range append(append([]string{c.Command}, c.Args...), slices.Collect(maps.Values(c.Env))...) {
		if strings.HasPrefix(s, specs.PlaceholderData) {
			return true
		}
	}
	return false
}

// LaunchSpec is what the launcher is told about an app, all of it from the
// pinned manifest and hub-chosen folders: for an MCP app the command and
// arguments with ${install} and ${data} replaced, the environment the
// manifest sets plus the allowed names the hub's own environment has
// (getenv; nil reads nothing), and its install folder read-only when it
// runs files from there. dataDir is the data folder as the app sees it
// (sandbox.DataPath for a sandboxed worker), not its host path.
func LaunchSpec(m *specs.Manifest, installDir, dataDir string, getenv func(string) string) sandbox.App {
	if m.MCP == nil {
		return sandbox.App{ID: m.ID, Kind: sandbox.KindBuiltin, Domains: slices.Clone(m.Domains)}
	}
	return LaunchMCP(m.ID, m.MCP, m.Domains, installDir, dataDir, getenv)
}

// LaunchMCP is LaunchSpec for an MCP server's section alone, before any
// manifest exists (apps import starts the server to read its tools).
func LaunchMCP(id string, c *specs.MCP, domains []string, installDir, dataDir string, getenv func(string) string) sandbox.App {
	app := sandbox.App{ID: id, Kind: sandbox.KindMCP, Domains: slices.Clone(domains), NoRoots: c.NoRoots}
	if c.Timeout > 0 {
		app.CallTimeout = time.Duration(c.Timeout) * time.Second
	}
	if (c.UsesInstall() && installDir == "") || (usesData(c) && dataDir == "") {
		// No command at all rather than one with a hole in its paths: the
		// launcher refuses it.
		return app
	}
	app.Command = []string{specs.Expand(c.Command, installDir, dataDir)}
	for _, a := range c.Args {
		app.Command = append(app.Command, specs.Expand(a, installDir, dataDir))
	}
	for _, name := range slices.Sorted(maps.Keys(c.Env)) {
		app.Env = append(app.Env, name+"="+specs.Expand(c.Env[name], installDir, dataDir))
	}
	if getenv != nil {
		for _, name := range c.EnvAllow {
			if v := getenv(name); v != "" {
				app.Env = append(app.Env, name+"="+v)
			}
		}
	}
	if c.UsesInstall() && installDir != "" {
		app.ReadOnly = []string{installDir}
	}
	return app
}
