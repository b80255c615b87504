// Package dialog is the TUI's permission dialog: it shows one prompt's
// hub-authored facts, quotes anything an app wrote as untrusted, and lets
// the user allow once, for the session, always, or deny — with Deny focused,
// Esc denying, keys ignored for a grace period after it opens so that typing
// cannot approve by accident, and a body that scrolls so the choices and the
// warning stay on screen at any terminal size.
package dialog

import (
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/actors/permission"
	"github.com/isolategpt/isolategpt/engine/untrusted"
	"github.com/isolategpt/isolategpt/tui/safe"
)

// DefaultGrace is how long keys are ignored after a dialog opens.
const DefaultGrace = 400 * time.Millisecond

// TypingGap: letters closer together than this are typing, not a choice.
const TypingGap = 300 * time.Millisecond

// maxValue caps how much of one value is shown.
const maxValue = 120

// Model is one open permission dialog.
type Model struct {
	Req     *msg.PromptRequest
	choices []msg.Decision
	focus   int
	// offset is how far the facts are scrolled; w and h the size the
	// dialog is shown at (SetSize), which bounds it.
	offset int
	w, h   int
	// lastRune is when a letter was last typed.
	lastRune time.Time
	opened   time.Time
	grace    time.Duration
	now      func() time.Time
}

// New opens a dialog for r. now is the clock (injectable for tests); grace
// is how long keys are ignored after opening.
func New(r *msg.PromptRequest, now func() time.Time, grace time.Duration) Model {
	if now == nil {
		now = time.Now
	}
	m := Model{Req: r, choices: Choices(r.Prompt), now: now, grace: grace, opened: now()}
	m.focus = len(m.choices) - 1 // Deny
	return m
}

// Choices are the decisions a prompt offers, Deny last (msg.Prompt.Choices:
// the same on the terminal).
func Choices(p msg.Prompt) []msg.Decision { return p.Choices() }

// Choices are this dialog's choices.
func (m Model) Choices() []msg.Decision { return m.choices }

// Focused is the decision Enter would make.
func (m Model) Focused() msg.Decision { return m.choices[m.focus] }

// InGrace reports whether keys are still being ignored.
func (m Model) InGrace() bool { return m.now().Sub(m.opened) < m.grace }

// Update handles a key. It returns the decision once the user has made
// one (done true).
func (m Model) Update(k tea.KeyMsg) (Model, msg.Decision, bool) {
	// Scrolling answers nothing, so it works in the grace period too.
	switch k.String() {
	case "pgdown", "ctrl+d":
		m.offset = min(m.offset+5, m.maxOffset())
		return m, "", false
	case "pgup", "ctrl+u":
		m.offset = max(m.offset-5, 0)
		return m, "", false
	}
	if m.InGrace() {
		return m, "", false
	}
	switch k.String() {
	case "esc":
		return m, msg.Deny, true
	case "enter":
		return m, m.Focused(), true
	case "left", "h", "shift+tab", "up", "k":
		if m.focus > 0 {
			m.focus--
		}
	case "right", "l", "tab", "down", "j":
		if m.focus < len(m.choices)-1 {
			m.focus++
		}
	default:
		if k.Type != tea.KeyRunes {
			break
		}
		// A choice's letter (o, s, a, d — as on the terminal) only moves
		// the focus: approving always takes Enter. Letters typed in a
		// burst are someone typing, not choosing ("yes" would otherwise
		// land on s): they put the focus back on Deny.
		now := m.now()
		burst := !m.lastRune.IsZero() && now.Sub(m.lastRune) < TypingGap
		m.lastRune = now
		if burst || len(k.Runes) > 1 {
			m.focus = len(m.choices) - 1
			break
		}
		for i, c := range m.choices {
			if strings.EqualFold(string(k.Runes), c.Key()) {
				m.focus = i
			}
		}
	}
	return m, "", false
}

var (
	box     = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).Padding(0, 1)
	title   = lipgloss.NewStyle().Bold(true)
	label   = lipgloss.NewStyle().Bold(true).Width(labelWidth)
	warn    = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("9"))
	appText = lipgloss.NewStyle().Foreground(lipgloss.Color("3"))
	focused = lipgloss.NewStyle().Reverse(true).Bold(true)
	faint   = lipgloss.NewStyle().Faint(true)
)

var kindText = map[msg.Kind]string{
	msg.Exec:   "exec — run an app's function",
	msg.Data:   "data — give a value to an app",
	msg.Collab: "collab — one app uses another",
	msg.Pin:    "pin — run an app whose server's tools changed since they were pinned",
}

// labelWidth is the width of the dialog's left column.
const labelWidth = 11

// View renders the dialog at most width columns wide, as tall as it needs.
func (m Model) View(width int) string { return m.ViewSize(width, 0) }

// SetSize tells the dialog the size it is shown at, for scrolling.
func (m *Model) SetSize(width, height int) { m.w, m.h = width, height }

// maxOffset is the furthest the facts scroll at the dialog's size.
func (m Model) maxOffset() int {
	if m.h <= 0 {
		return 0
	}
	_, body, room := m.layout(m.w, m.h)
	return max(len(body)-max(room-1, 0), 0)
}

// ViewSize renders the dialog in at most width×height cells (height 0: no
// limit). Every sentence in it is the hub's; a value whose labels include
// an app's output is shown on lines of its own behind a gutter (┆), wrapped
// by the dialog itself, so that no layout can make it start a line that
// looks like the hub's. The title, the warning, the choices and the help
// line are always shown; the facts between them scroll (PgUp/PgDn) when
// they do not fit, with a line saying how many are hidden.
func (m Model) ViewSize(width, height int) string {
	parts, body, room := m.layout(width, height)
	if height > 0 {
		body = m.window(body, max(room, 1))
	}
	gap := []string{""}
	if height > 0 && len(parts[0])+1+len(body)+len(parts[1]) > height-2 {
		gap = nil // no air between the title and the facts
	}
	lines := append(append(append(parts[0], gap...), body...), parts[1]...)
	if height > 0 && len(lines) > height-2 {
		// Too small even for the essentials: keep the choices.
		lines = lines[len(lines)-max(height-2, 1):]
	}
	return box.Width(boxWidth(width)).Render(strings.Join(lines, "\n"))
}

// boxWidth is the box's width inside its border for a dialog at most
// width columns wide, with a column of air on each side.
func boxWidth(width int) int { return max(width-4, 20) }

// layout wraps the dialog's rows to its width: the top (title) and the
// bottom (warnings, choices, help) that always show, the facts between,
// and how many rows the facts get at this height.
func (m Model) layout(width, height int) (parts [2][]string, body []string, room int) {
	r := rows{inner: boxWidth(width) - 2} // the padding
	top := r.plain(title.Render("Permission needed: " + Summary(m.Req.Prompt)))
	bottom := m.warnings(&r)
	bottom = append(bottom, "")
	bottom = append(bottom, m.buttons(r.inner)...)
	help := "←/→ or a letter choose · Enter confirm · Esc deny"
	if m.InGrace() {
		help = "(keys ignored a moment: typing cannot answer)"
	}
	bottom = append(bottom, r.plain(faint.Render(help))...)
	body = m.facts(&r)
	room = height - 2 - len(top) - 1 - len(bottom) // the border takes 2 rows, the gap 1
	if room < 2 {
		room++ // the gap goes first
	}
	return [2][]string{top, bottom}, body, room
}

// rows wraps the dialog's lines to its inner width.
type rows struct{ inner int }

// plain wraps a line of the hub's words.
func (r rows) plain(s string) []string { return strings.Split(ansi.Wordwrap(s, r.inner, ""), "\n") }

// fact is a line of the hub's own words, wrapped under its label.
func (r rows) fact(name, text string, style lipgloss.Style) []string {
	var out []string
	for i, l := range strings.Split(ansi.Wordwrap(text, max(r.inner-labelWidth, 10), ""), "\n") {
		if i > 0 {
			name = ""
		}
		out = append(out, label.Render(name)+style.Render(l))
	}
	return out
}

// block is text an app wrote (or that carries an app's output), cut into
// rows of its own behind the gutter.
func (r rows) block(text string) []string {
	var out []string
	for _, l := range strings.Split(ansi.Hardwrap(safe.Clean(text), max(r.inner-labelWidth-2, 10), true), "\n") {
		out = append(out, label.Render("")+appText.Render("┆ ")+l)
	}
	return out
}

// window is the part of body that fits in room rows at the scroll offset,
// with a line that says what is hidden.
func (m Model) window(body []string, room int) []string {
	if len(body) <= room {
		return body
	}
	// One row goes to the line that says what is hidden.
	show := max(room-1, 0)
	off := min(m.offset, len(body)-show)
	out := append([]string{}, body[off:off+show]...)
	above, below := off, len(body)-off-show
	var parts []string
	if above > 0 {
		parts = append(parts, fmt.Sprintf("↑ %d above (PgUp)", above))
	}
	if below > 0 {
		parts = append(parts, fmt.Sprintf("↓ %d more (PgDn)", below))
	}
	return append(out, faint.Render(strings.Join(parts, " · ")))
}

// facts are the hub's rows about the flow, the part that scrolls.
func (m Model) facts(r *rows) []string {
	p := m.Req.Prompt
	var out []string
	line := func(name, value string) { out = append(out, r.fact(name, value, lipgloss.NewStyle())...) }
	kind, ok := kindText[p.Kind]
	if !ok {
		kind = fmt.Sprintf("%q (unknown kind)", string(p.Kind))
	}
	line("kind", kind)
	line("app", p.App)
	if p.Function != "" {
		line("function", p.Function)
	}
	if p.Requester != "" {
		line("asked by", p.Requester)
	}
	for i, d := range p.Data {
		name := ""
		if i == 0 {
			name = "data"
		}
		from := origins(d)
		if !appAuthored(d) {
			line(name, fmt.Sprintf("%s = %s  %s", safe.Clean(d.Name), safe.Clean(d.Value), faint.Render("(from "+from+")")))
			continue
		}
		// An app wrote this value: say so before showing it.
		line(name, safe.Clean(d.Name)+"  "+appText.Render("from "+from+":"))
		out = append(out, r.block(d.Value)...)
	}
	if p.Origin != "" {
		line("from", p.Origin)
	}
	if p.Kind != msg.Pin {
		line("goes to", p.Target())
	}
	if p.Task != "" {
		line("task", "written by "+permission.Origins(p.TaskLabels)+":")
		out = append(out, r.block(untrusted.Quote(p.Task, maxValue))...)
	}
	if len(p.Chosen) > 0 {
		line("app chosen", "by the hub, comparing "+strings.Join(permission.AppSources(p.Chosen), ", "))
	}
	if p.Effect == "write" {
		line("effect", "changes something (for example books or sends)")
	}
	if p.Kind != msg.Pin && p.ChosenBy == "" && p.InPlan {
		line("plan", "part of the plan for your query")
	}
	return out
}

// warnings are the rows that never scroll away: a flow outside the plan
// and the hub's warning.
func (m Model) warnings(r *rows) []string {
	p := m.Req.Prompt
	var out []string
	switch {
	case p.Kind == msg.Pin:
		// Not a flow of the plan: a question about the app itself.
	case p.ChosenBy != "":
		out = append(out, r.fact("plan", "NOT in the plan: "+p.ChosenBy+" asked for this, not your query", warn)...)
	case !p.InPlan:
		out = append(out, r.fact("plan", "NOT in the plan for your query", warn)...)
	}
	if p.Warning != "" {
		out = append(out, r.fact("warning", p.Warning, warn)...)
	}
	return out
}

// buttons lays the choices out in rows of at most width cells.
func (m Model) buttons(width int) []string {
	var rows []string
	row := ""
	for i, c := range m.choices {
		s := "  " + ChoiceLabel(c) + "  "
		if i == m.focus {
			s = focused.Render("> " + ChoiceLabel(c) + " <")
		}
		if row != "" && lipgloss.Width(row)+1+lipgloss.Width(s) > width {
			rows = append(rows, row)
			row = ""
		}
		if row != "" {
			row += " "
		}
		row += s
	}
	return append(rows, row)
}

// appAuthored reports whether a value carries an app's output.
func appAuthored(d msg.DataItem) bool {
	if len(d.Labels) == 0 {
		return d.Origin != "" && d.Origin != "user"
	}
	return d.Labels.FromApps()
}

// origins is where a value came from, in the hub's words.
func origins(d msg.DataItem) string {
	if len(d.Labels) == 0 {
		if d.Origin == "" || d.Origin == "user" {
			return "you"
		}
		return safe.Clean(d.Origin) + " — app-authored, untrusted"
	}
	if d.Labels.OnlyQuery() {
		return "you"
	}
	return permission.Origins(d.Labels)
}

// Summary is the dialog's one-line title, every word the hub's.
func Summary(p msg.Prompt) string {
	switch p.Kind {
	case msg.Exec:
		if p.Function == "" {
			return "run the app " + p.App + " on a task"
		}
		return "run " + p.Target()
	case msg.Data:
		return "give data from " + p.Origin + " to " + p.Target()
	case msg.Collab:
		return "let " + p.Requester + " use " + p.Target()
	case msg.Pin:
		return "run " + p.App + " with the changed tools its server now reports (pin them)"
	}
	return fmt.Sprintf("%q for %s", string(p.Kind), p.Target())
}

// ChoiceLabel names a decision for a person, with its letter: "[o] allow once".
func ChoiceLabel(d msg.Decision) string { return "[" + d.Key() + "] " + d.Label() }

// Quote shows text as a quoted string with everything that does not print
// as itself escaped (engine/untrusted), cut to a readable length.
func Quote(s string) string { return untrusted.Quote(s, maxValue) }
