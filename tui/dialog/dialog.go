// Package dialog is the TUI's permission dialog: it shows one prompt's
// hub-authored facts, quotes anything an app wrote as untrusted, and lets
// the user allow once, for the session, always, or deny — with Deny focused,
// Esc denying, and keys ignored for a grace period after it opens so that
// typing cannot approve by accident.
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

// maxValue caps how much of one value is shown.
const maxValue = 120

// Model is one open permission dialog.
type Model struct {
	Req     *msg.PromptRequest
	choices []msg.Decision
	focus   int
	opened  time.Time
	grace   time.Duration
	now     func() time.Time
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

// Choices are the decisions a prompt offers, Deny last (msg.Prompt.Choices).
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
		// A digit only moves the focus: approving always takes Enter.
		if s := k.String(); len(s) == 1 && s[0] >= '1' && int(s[0]-'1') < len(m.choices) {
			m.focus = int(s[0] - '1')
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

// View renders the dialog at most width columns wide. Every sentence in it
// is the hub's; a value whose labels include an app's output is shown on
// lines of its own behind a gutter (┆), wrapped by the dialog itself, so
// that no layout can make it start a line that looks like the hub's.
func (m Model) View(width int) string {
	p := m.Req.Prompt
	inner := max(width-4, 20)
	var b strings.Builder
	line := func(name, value string) {
		fmt.Fprintf(&b, "%s%s\n", label.Render(name), value)
	}
	block := func(text string) {
		avail := max(inner-2-labelWidth-2, 10)
		for _, l := range strings.Split(ansi.Hardwrap(safe.Clean(text), avail, true), "\n") {
			line("", appText.Render("┆ ")+l)
		}
	}
	// wrapped is a line of the hub's own words, wrapped under its label.
	wrapped := func(name, text string, style lipgloss.Style) {
		avail := max(inner-2-labelWidth, 10)
		for i, l := range strings.Split(ansi.Wordwrap(text, avail, ""), "\n") {
			if i > 0 {
				name = ""
			}
			line(name, style.Render(l))
		}
	}
	b.WriteString(title.Render("Permission needed: "+Summary(p)) + "\n\n")
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
		block(d.Value)
	}
	if p.Origin != "" {
		line("from", p.Origin)
	}
	if p.Kind != msg.Pin {
		line("goes to", p.Target())
	}
	if p.Task != "" {
		line("task", "written by "+permission.Origins(p.TaskLabels)+":")
		block(untrusted.Quote(p.Task, maxValue))
	}
	if len(p.Chosen) > 0 {
		line("app chosen", "by the hub, comparing "+strings.Join(permission.AppSources(p.Chosen), ", "))
	}
	if p.Effect == "write" {
		line("effect", "changes something (for example books or sends)")
	}
	switch {
	case p.Kind == msg.Pin:
		// Not a flow of the plan: a question about the app itself.
	case p.ChosenBy != "":
		line("plan", warn.Render("NOT in the plan: "+p.ChosenBy+" asked for this, not your query"))
	case p.InPlan:
		line("plan", "part of the plan for your query")
	default:
		line("plan", warn.Render("NOT in the plan for your query"))
	}
	if p.Warning != "" {
		wrapped("warning", p.Warning, warn)
	}
	b.WriteString("\n")
	var opts []string
	for i, c := range m.choices {
		s := " " + ChoiceLabel(c) + " "
		if i == m.focus {
			s = focused.Render("[" + s + "]")
		} else {
			s = " " + s + " "
		}
		opts = append(opts, s)
	}
	b.WriteString(strings.Join(opts, " ") + "\n")
	help := "←/→ choose · Enter confirm · Esc deny"
	if m.InGrace() {
		help = "(keys are ignored for a moment so typing cannot answer)"
	}
	b.WriteString(faint.Render(help))
	return box.Width(inner).Render(b.String())
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

// ChoiceLabel names a decision for a person.
func ChoiceLabel(d msg.Decision) string {
	switch d {
	case msg.AllowOnce:
		return "allow once"
	case msg.AllowSession:
		return "allow session"
	case msg.AllowAlways:
		return "always allow"
	}
	return "deny"
}

// Quote shows text as a quoted string with everything that does not print
// as itself escaped (engine/untrusted), cut to a readable length.
func Quote(s string) string { return untrusted.Quote(s, maxValue) }
