// Package apps is the TUI's apps screen: the installed apps with their
// functions, domains and pinned-manifest state, and the user's permanent
// grants, any of which can be revoked.
package apps

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/tui/safe"
)

// Model is the apps screen.
type Model struct {
	lines  []string // the apps part, rendered once per Load
	grants []store.Grant
	cursor int
	note   string
	// offset is the first app line shown when they do not all fit.
	offset int
}

var (
	head   = lipgloss.NewStyle().Bold(true)
	faint  = lipgloss.NewStyle().Faint(true)
	bad    = lipgloss.NewStyle().Foreground(lipgloss.Color("9"))
	chosen = lipgloss.NewStyle().Reverse(true)
)

// Load fills the screen from the catalog, the installed manifests and the
// user's grants.
func (m *Model) Load(c *plan.Catalog, installed []store.ManifestRecord, grants []store.Grant) {
	pinned := map[string]string{}
	for _, r := range installed {
		pinned[r.App] = r.Hash
	}
	m.lines = nil
	for _, id := range c.IDs() {
		man, _ := c.App(id)
		state := "pinned " + shortHash(man.Hash())
		switch h, ok := pinned[id]; {
		case !ok:
			state = bad.Render("not recorded in the store")
		case h != man.Hash():
			state = bad.Render("CHANGED since it was pinned: needs your consent again")
		}
		var fns []string
		for _, f := range man.Functions {
			fns = append(fns, f.Name+"("+f.Effect+")")
		}
		if len(fns) == 0 {
			fns = []string{"none (prompt app)"}
		}
		domains := "no network"
		if len(man.Domains) > 0 {
			domains = strings.Join(man.Domains, ", ")
		}
		m.lines = append(m.lines,
			fmt.Sprintf("%s %s  %s", head.Render(id), faint.Render("v"+man.Version+" "+man.Kind), state),
			"    functions: "+strings.Join(fns, ", "),
			"    domains:   "+domains)
	}
	m.grants = grants
	m.cursor = min(m.cursor, max(len(grants)-1, 0))
}

// SetNote shows a line under the grants (the result of a revoke).
func (m *Model) SetNote(s string) { m.note = s }

// Update handles a key. It returns the key of the grant to revoke when the
// user pressed x (or Delete) on one.
func (m Model) Update(k tea.KeyMsg) (Model, string) {
	switch k.String() {
	case "up", "k":
		if m.cursor > 0 {
			m.cursor--
		}
	case "down", "j":
		if m.cursor < len(m.grants)-1 {
			m.cursor++
		}
	case "pgdown":
		m.offset = min(m.offset+6, len(m.lines))
	case "pgup":
		m.offset = max(m.offset-6, 0)
	case "x", "delete":
		if m.cursor < len(m.grants) {
			return m, m.grants[m.cursor].Key
		}
	}
	return m, ""
}

// View renders the screen in width×height cells.
func (m Model) View(width, height int) string {
	var grants []string
	grants = append(grants, "", head.Render("permanent grants")+faint.Render("  (↑/↓ select · x revoke)"))
	for i, g := range m.grants {
		line := fmt.Sprintf("  %-60s %s", safe.Clean(g.Key), g.At.UTC().Format("2006-01-02 15:04"))
		if i == m.cursor {
			line = chosen.Render(line)
		}
		grants = append(grants, line)
	}
	if len(m.grants) == 0 {
		grants = append(grants, faint.Render("  none: \"always allow\" in a dialog adds one"))
	}
	if m.note != "" {
		grants = append(grants, "", m.note)
	}
	// The grants stay visible; the apps scroll above them.
	room := max(height-len(grants)-1, 1)
	apps := m.lines
	title := "installed apps"
	if len(apps) > room {
		off := min(m.offset, len(apps)-room)
		apps = apps[off : off+room]
		title += faint.Render(fmt.Sprintf("  (PgUp/PgDn scroll · lines %d–%d of %d)", off+1, off+room, len(m.lines)))
	}
	out := append([]string{head.Render(title)}, apps...)
	out = append(out, grants...)
	if len(out) > height {
		out = out[:height]
	}
	for i, l := range out {
		out[i] = safe.Cut(l, width)
	}
	return strings.Join(out, "\n")
}

func shortHash(h string) string {
	if len(h) > 19 {
		return h[:19]
	}
	return h
}
