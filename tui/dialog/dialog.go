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

	"github.com/isolategpt/isolategpt/actors/msg"
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
	box       = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).Padding(0, 1)
	title     = lipgloss.NewStyle().Bold(true)
	label     = lipgloss.NewStyle().Bold(true).Width(labelWidth)
	warn      = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("9"))
	untrusted = lipgloss.NewStyle().Foreground(lipgloss.Color("3"))
	focused   = lipgloss.NewStyle().Reverse(true).Bold(true)
	faint     = lipgloss.NewStyle().Faint(true)
)

var kindText = map[msg.Kind]string{
	msg.Exec:   "exec — run an app's function",
	msg.Data:   "data — give a value to an app",
	msg.Collab: "collab — one app uses another",
	msg.Pin:    "pin — run an app whose server's tools changed since they were pinned",
}

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
	return max(len(body)-max(room-1, 1), 0)
}

// ViewSize renders the dialog in at most width×height cells (height 0: no
// limit). The title, the warning, the choices and the help line are always
// shown; the facts between them scroll (PgUp/PgDn) when they do not fit,
// with a line saying how many are hidden.
func (m Model) ViewSize(width, height int) string {
	parts, body, room := m.layout(width, height)
	if height > 0 {
		body = m.window(body, max(room, 1))
	}
	lines := append(append(append(parts[0], ""), body...), parts[1]...)
	if height > 0 && len(lines) > height-2 {
		// Too small even for the essentials: keep the choices.
		lines = lines[len(lines)-max(height-2, 1):]
	}
	return box.Width(boxWidth(width)).Render(strings.Join(lines, "\n"))
}

// layout wraps the dialog's lines to its width: the top (title) and the
// bottom (warnings, choices, help) that always show, the facts between,
// and how many rows the facts get at this height.
func (m Model) layout(width, height int) (parts [2][]string, body []string, room int) {
	inner := boxWidth(width) - 2 // the padding
	wrap := func(s string) []string {
		return strings.Split(lipgloss.NewStyle().Width(inner).Render(s), "\n")
	}
	top := wrap(title.Render("Permission needed: " + Summary(m.Req.Prompt)))
	var bottom []string
	for _, w := range m.warnings() {
		bottom = append(bottom, wrapFact(w, inner)...)
	}
	bottom = append(bottom, "")
	bottom = append(bottom, m.buttons(inner)...)
	help := "←/→ or a letter choose · Enter confirm · Esc deny"
	if m.InGrace() {
		help = "(keys are ignored for a moment so typing cannot answer)"
	}
	bottom = append(bottom, wrap(faint.Render(help))...)
	for _, l := range m.facts() {
		body = append(body, wrapFact(l, inner)...)
	}
	room = height - 2 - len(top) - 1 - len(bottom) // the border takes 2 rows, the gap 1
	return [2][]string{top, bottom}, body, room
}

// labelWidth is the width of the labels in front of the facts.
const labelWidth = 11

// hang separates a fact's label from its value until wrapping, which
// indents the value's continued rows under its first.
const hang = "\x00"

func labelled(name, value string) string { return label.Render(name) + hang + value }

// wrapFact wraps a line to width; a labelled fact's value wraps in its own
// column.
func wrapFact(l string, width int) []string {
	head, value, ok := strings.Cut(l, hang)
	if !ok {
		return strings.Split(lipgloss.NewStyle().Width(width).Render(l), "\n")
	}
	rows := strings.Split(lipgloss.NewStyle().Width(max(width-labelWidth, 8)).Render(value), "\n")
	for i := range rows {
		if i == 0 {
			rows[i] = head + rows[i]
		} else {
			rows[i] = strings.Repeat(" ", labelWidth) + rows[i]
		}
	}
	return rows
}

// boxWidth is the box's width inside its border for a dialog at most
// width columns wide, with a column of air on each side.
func boxWidth(width int) int { return max(width-4, 18) }

// window is the part of body that fits in room rows at the scroll offset,
// with a line that says what is hidden.
func (m Model) window(body []string, room int) []string {
	if len(body) <= room {
		return body
	}
	show := max(room-1, 1)
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

// facts are the hub's lines about the flow, the part that scrolls.
func (m Model) facts() []string {
	p := m.Req.Prompt
	var out []string
	line := func(name, value string) { out = append(out, labelled(name, value)) }
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
		if d.Origin == "" || d.Origin == "user" {
			line(name, fmt.Sprintf("%s = %s  %s", d.Name, Quote(d.Value), faint.Render("(from you)")))
			continue
		}
		// An app wrote this value: say so before showing it.
		line(name, d.Name+"  "+untrusted.Render("from "+d.Origin+" — app-authored, untrusted:"))
		line("", Quote(d.Value))
	}
	if p.Origin != "" {
		line("from", p.Origin)
	}
	if p.Kind != msg.Pin {
		line("goes to", p.Target())
	}
	if p.Task != "" {
		line("task", Quote(p.Task)+"  "+faint.Render("(written by the planner)"))
	}
	if p.Effect == "write" {
		line("effect", "changes something (for example books or sends)")
	}
	if p.Kind != msg.Pin && p.InPlan {
		line("plan", "part of the plan for your query")
	}
	return out
}

// warnings are the lines that never scroll away: a flow outside the plan
// and the hub's warning.
func (m Model) warnings() []string {
	p := m.Req.Prompt
	var out []string
	if p.Kind != msg.Pin && !p.InPlan {
		out = append(out, labelled("plan", warn.Render("NOT in the plan for your query")))
	}
	if p.Warning != "" {
		out = append(out, labelled("warning", warn.Render(p.Warning)))
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

// Quote shows a value as a quoted Go string — control characters and
// terminal escapes escaped, never interpreted — cut to a readable length.
func Quote(s string) string {
	r := []rune(s)
	if len(r) > maxValue {
		return fmt.Sprintf("%q…", string(r[:maxValue]))
	}
	return fmt.Sprintf("%q", s)
}
