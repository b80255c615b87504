// Package chat is the TUI's conversation: earlier turns from the store, each
// query with its answer and every step attributed to its app with its
// outcome, in a scrolling view above an input line.
package chat

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/execute"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/tui/safe"
)

// MaxQuery is the most characters the input line takes.
const MaxQuery = 4000

// Model is the chat screen.
type Model struct {
	vp      viewport.Model
	input   textinput.Model
	entries []string // rendered blocks, oldest first
	busy    string   // the query being answered, if any
	width   int
	// dropped counts characters typed or pasted past MaxQuery since the
	// input was last edited; the line under the input says so.
	dropped int
}

var (
	you     = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("12"))
	bot     = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("10"))
	faint   = lipgloss.NewStyle().Faint(true)
	failed  = lipgloss.NewStyle().Foreground(lipgloss.Color("9"))
	history = lipgloss.NewStyle().Faint(true)
)

// New returns an empty chat.
func New() Model {
	in := textinput.New()
	in.Placeholder = "ask something, e.g. Use metro_hail to estimate the fare from \"A\" to \"B\""
	in.Prompt = "› "
	in.CharLimit = MaxQuery
	in.Focus()
	return Model{vp: viewport.New(80, 10), input: in, width: 80}
}

// SetSize fits the chat into width×height cells.
func (m *Model) SetSize(width, height int) {
	m.width = width
	m.vp.Width = width
	m.vp.Height = max(height-2, 1)
	m.input.Width = max(width-4, 10)
	m.refresh()
}

// AddHistory shows turns from earlier sessions: the user's queries, the
// answers they got (from the audit log, by query id; none when it has no
// record), and the hub's own facts about their steps.
func (m *Model) AddHistory(turns []store.Turn, answers map[string]string) {
	for _, t := range turns {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s\n", history.Render(t.At.UTC().Format("2006-01-02 15:04")+" you ›"), history.Render(safe.Clean(t.Query)))
		if a, ok := answers[t.QueryID]; ok {
			b.WriteString(history.Render("isolategpt ›") + "\n")
			for _, l := range answerText(a) {
				b.WriteString(history.Render(indent(l, m.width)) + "\n")
			}
		}
		if len(t.Facts) > 0 {
			b.WriteString(history.Render("  steps: "+safe.Clean(strings.Join(t.Facts, "; "))) + "\n")
		}
		m.entries = append(m.entries, b.String())
	}
	if len(turns) > 0 {
		m.entries = append(m.entries, faint.Render(fmt.Sprintf("── %d earlier turn(s) above, from the store ──", len(turns)))+"\n")
	}
	m.refresh()
}

// AddQuery shows a query the user sent and marks the chat busy.
func (m *Model) AddQuery(q string) {
	m.busy = q
	m.entries = append(m.entries, you.Render("you ›")+" "+q+"\n")
	m.refresh()
}

// AddAnswer shows a query's answer (nil when there is none) and error.
func (m *Model) AddAnswer(a *msg.Answer, err error) {
	m.busy = ""
	m.entries = append(m.entries, RenderAnswer(a, err, m.width))
	m.refresh()
}

// AddNote shows a line from the TUI itself.
func (m *Model) AddNote(s string) {
	m.entries = append(m.entries, faint.Render("  "+safe.Clean(s))+"\n")
	m.refresh()
}

// AddRemote shows work another isolategpt process ran through this one:
// a command (args) starting or ending, or a query (with its answer once
// done). Queries come with their own command, which is not repeated.
func (m *Model) AddRemote(pid int, args, query string, a *msg.Answer, err error, done bool, code int) {
	who := fmt.Sprintf("pid %d", pid)
	switch {
	case query != "" && !done:
		m.entries = append(m.entries, you.Render(who+" ›")+" "+safe.Clean(query)+"\n")
	case query != "":
		m.entries = append(m.entries, faint.Render("  (answered for "+who+")")+"\n"+RenderAnswer(a, err, m.width))
	case strings.HasPrefix(args, "ask"):
	case !done:
		m.entries = append(m.entries, faint.Render("⇢ "+who+" runs isolategpt "+safe.Cut(safe.Clean(args), 200))+"\n")
	default:
		m.entries = append(m.entries, faint.Render(fmt.Sprintf("⇠ %s: isolategpt %s ended (exit %d)", who, safe.Cut(safe.Clean(args), 200), code))+"\n")
	}
	m.refresh()
}

// Busy reports whether a query is being answered.
func (m Model) Busy() bool { return m.busy != "" }

// RenderAnswer renders an answer and its steps.
func RenderAnswer(a *msg.Answer, err error, width int) string {
	var b strings.Builder
	b.WriteString(bot.Render("isolategpt ›") + "\n")
	if a != nil {
		for _, l := range answerText(a.Text) {
			b.WriteString(indent(l, width) + "\n")
		}
		if len(a.Steps) > 0 {
			b.WriteString(faint.Render("  steps:") + "\n")
		}
		for _, s := range a.Steps {
			b.WriteString(safe.Cut("    "+StepLine(s), width) + "\n")
			// An agent step's own tool calls, each checked by the hub.
			for _, tc := range s.Tools {
				line := fmt.Sprintf("        tool %s: %s", tc.Function, tc.Status)
				if tc.Reason != "" {
					line += " (" + execute.Preview(tc.Reason) + ")"
				}
				b.WriteString(safe.Cut(safe.Clean(line), width) + "\n")
			}
		}
		if a.Usage.Calls > 0 {
			b.WriteString(faint.Render(fmt.Sprintf("  model: %s · %d call(s), %d+%d tokens · %s", a.Model, a.Usage.Calls, a.Usage.PromptTokens, a.Usage.CompletionTokens, round(a.Duration))) + "\n")
		}
	}
	// How much of the work was done, when not all of it: the same
	// status ask and batch report.
	if st := msg.OutcomeOf(a, err); st != msg.Done {
		b.WriteString("  " + failed.Render("status: "+string(st)+" — "+st.Meaning()) + "\n")
	}
	if err != nil {
		b.WriteString("  " + failed.Render("error: "+err.Error()) + "\n")
	}
	return b.String()
}

// StepLine is one step: its outcome mark, the hub's line about it (who ran
// it, its status, its schema-checked result or reason) and how long it took.
func StepLine(s msg.StepOutcome) string {
	mark, ok := map[string]string{msg.StatusOK: "✓", msg.StatusFailed: "✗", msg.StatusDenied: "⊘", msg.StatusSkipped: "·"}[s.Status]
	if !ok {
		mark = "?"
	}
	line := mark + " " + execute.OutcomeLine(s)
	if s.Duration > 0 {
		line += "  " + faint.Render(round(s.Duration))
	}
	return line
}

// answerText is the answer without the "Steps:" list the hub appends: the
// chat lists the steps itself, with their marks and durations.
func answerText(text string) []string {
	var out []string
	skipping := false
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		switch {
		case l == "Steps:":
			skipping = true
			continue
		case skipping && strings.HasPrefix(l, "  "):
			continue
		}
		skipping = false
		if l == "" && len(out) > 0 && out[len(out)-1] == "" {
			continue
		}
		out = append(out, safe.Clean(l))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// indent wraps a line to width with every row indented by two spaces, so
// a long answer line does not run back to the left edge.
func indent(l string, width int) string {
	rows := strings.Split(lipgloss.NewStyle().Width(max(width-2, 10)).Render(l), "\n")
	for i, r := range rows {
		rows[i] = "  " + strings.TrimRight(r, " ")
	}
	return strings.Join(rows, "\n")
}

func round(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

func (m *Model) refresh() {
	body := strings.Join(m.entries, "\n")
	if m.busy != "" {
		body += "\n" + faint.Render("  … working (permission prompts open as a dialog)")
	}
	m.vp.SetContent(lipgloss.NewStyle().Width(m.width).Render(body))
	m.vp.GotoBottom()
}

// Update handles a key or other message. It returns the query to ask when
// the user pressed Enter on a non-empty line.
func (m Model) Update(t tea.Msg) (Model, tea.Cmd, string) {
	if k, ok := t.(tea.KeyMsg); ok {
		switch k.String() {
		case "enter":
			q := strings.TrimSpace(m.input.Value())
			if q == "" || m.Busy() {
				return m, nil, ""
			}
			m.input.Reset()
			m.dropped = 0
			return m, nil, q
		case "pgup", "pgdown", "up", "down":
			var cmd tea.Cmd
			m.vp, cmd = m.vp.Update(t)
			return m, cmd, ""
		}
	}
	if k, ok := t.(tea.KeyMsg); ok {
		switch {
		case k.Type == tea.KeyRunes || k.Type == tea.KeySpace:
			// A paste larger than the line is cut here, at once, rather
			// than fed to the input rune by rune.
			n := len(k.Runes)
			if k.Type == tea.KeySpace {
				n = 1
			}
			room := MaxQuery - len([]rune(m.input.Value()))
			if n > room {
				m.dropped += n - max(room, 0)
				if room <= 0 {
					return m, nil, ""
				}
				k.Runes = k.Runes[:room]
				t = k
			}
		case k.Type == tea.KeyBackspace || k.Type == tea.KeyCtrlU || k.Type == tea.KeyCtrlW || k.Type == tea.KeyDelete:
			m.dropped = 0
		}
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(t)
	return m, cmd, ""
}

// Full reports whether the input line holds MaxQuery characters.
func (m Model) Full() bool { return len([]rune(m.input.Value())) >= MaxQuery }

// Drop counts n characters typed past a full line, without updating the
// input (the TUI's filter calls it for each key of a long paste).
func (m *Model) Drop(n int) { m.dropped += n }

// View renders the chat.
func (m Model) View() string {
	rule := strings.Repeat("─", m.width)
	if m.dropped > 0 {
		note := fmt.Sprintf("─ the query is cut at %d characters: %d more were dropped ", MaxQuery, m.dropped)
		rule = failed.Render(safe.Cut(note+rule, m.width))
	}
	return m.vp.View() + "\n" + rule + "\n" + m.input.View()
}
