// Package live is the TUI's live view: the hub, the spokes alive with their
// workers' state (starting, ready, busy, killed, with pid and reason) and
// the calls each has served, and the step, ISC and permission messages
// passing through the hub, as the actor system's event stream reports them.
// Sessions other than the TUI's own — commands other processes run through
// it — are shown too, marked with their session.
package live

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/tui/safe"
)

// maxEvents is how many event lines are kept.
const maxEvents = 500

// Model is the live view.
type Model struct {
	session string
	now     func() time.Time
	spokes  []*spoke // in the order they started
	byID    map[string]*spoke
	events  []string
	status  *msg.StatusReply
}

type spoke struct {
	id, app, worker string
	session         string // "" for the TUI's own session
	pid             int
	calls           int // calls its workers started
	inFlight        int
	reason          string
	crashes         int
	stopped         string
	announced       bool // its worker's pid was logged
}

var (
	head  = lipgloss.NewStyle().Bold(true)
	faint = lipgloss.NewStyle().Faint(true)
	bad   = lipgloss.NewStyle().Foreground(lipgloss.Color("9"))
	good  = lipgloss.NewStyle().Foreground(lipgloss.Color("10"))
)

// New returns the live view of one session; now stamps events.
func New(session string, now func() time.Time) Model {
	if now == nil {
		now = time.Now
	}
	return Model{session: session, now: now, byID: map[string]*spoke{}}
}

// SetStatus records what the hub last said is alive.
func (m *Model) SetStatus(r *msg.StatusReply) { m.status = r }

// Observe takes one event from the event stream.
func (m *Model) Observe(ev any) {
	switch e := ev.(type) {
	case *msg.SpokeStarted:
		s := &spoke{id: e.Spoke, app: e.App, worker: "not started", session: m.other(e.SessionID)}
		m.spokes = append(m.spokes, s)
		m.byID[e.Spoke] = s
		m.log("", "%sspoke %s started", m.tag(e.SessionID), e.App)
	case *msg.SpokeStopped:
		if s, ok := m.byID[e.Spoke]; ok {
			s.stopped = e.Reason
			m.log("", "spoke %s stopped (%s)", e.App, e.Reason)
		}
	case *msg.SpokeCrashed:
		if s, ok := m.byID[e.Spoke]; ok {
			s.crashes++
			m.log(bad.Render("!"), "spoke %s crashed: %s; its supervisor (the hub) handles it", e.App, safe.Cut(e.Reason, 80))
		}
	case *msg.WorkerChanged:
		s, ok := m.byID[e.Spoke]
		if !ok {
			return
		}
		// Each call's start is one busy report with one more in flight.
		if e.State == msg.WorkerBusy && e.Calls > s.inFlight {
			s.calls++
		}
		s.worker, s.inFlight = e.State, e.Calls
		if e.PID != 0 {
			s.pid = e.PID
		}
		switch e.State {
		case msg.WorkerKilled, msg.WorkerFailed:
			// Kept after a new worker starts: the last death's cause.
			s.reason = "last: " + e.State
			if e.Cause != "" {
				s.reason += " (" + e.Cause + ")"
			}
			m.log(bad.Render("!"), "worker of %s %s (%s)", e.App, e.State, safe.Cut(e.Reason, 80))
		case msg.WorkerStarting, msg.WorkerStopped:
			s.announced = false
			m.log("", "worker of %s %s", e.App, e.State)
		case msg.WorkerReady:
			if e.PID != 0 && e.Calls == 0 && !s.announced {
				s.announced = true
				m.log("", "worker of %s ready, pid %d", e.App, e.PID)
			}
		}
	case *msg.StepStarted:
		what := e.App + "." + e.Function
		if e.Agent {
			what = e.App + " (agent)"
		}
		m.log("→", "%shub routes step %s to %s", m.tag(e.SessionID), e.StepID, what)
	case *msg.StepFinished:
		o := e.Outcome
		who := o.App + "." + o.Function
		switch {
		case o.Kind == "op":
			who = "hub operator"
		case o.Function == "":
			who = o.App + " (agent)"
		}
		m.log(mark(o.Status), "step %s %s: %s %s", o.Step, who, o.Status, o.Duration.Round(time.Microsecond).String())
	case *msg.ToolProgress:
		if _, ok := m.byID[e.Spoke]; !ok {
			return
		}
		done := fmt.Sprintf("%g", e.Progress)
		if e.Total > 0 {
			done = fmt.Sprintf("%g/%g", e.Progress, e.Total)
		}
		line := fmt.Sprintf("%s.%s progress %s", e.App, e.Function, done)
		if e.Message != "" {
			// The server's words: quoted, cut, marked.
			line += fmt.Sprintf(" (app says %q)", safe.Cut(e.Message, 60))
		}
		m.log("…", "%s", line)
	case *msg.ISCRouted:
		line := fmt.Sprintf("%sISC %s → %s: %s", m.tag(e.SessionID), e.From, e.Function, e.Status)
		if e.Reason != "" {
			line += " (" + safe.Cut(e.Reason, 60) + ")"
		}
		m.log("⇄", "%s", line)
	case *msg.PermissionDecided:
		how := "by a grant"
		if e.Asked {
			how = "asked you"
			if e.SessionID != m.session {
				how = "asked there"
			}
		}
		m.log("", "%spermission %s %s: %s (%s)", m.tag(e.SessionID), string(e.Prompt.Kind), e.Prompt.Target(), string(e.Decision), how)
	}
}

// other is "" for the TUI's own session, else the session's id.
func (m Model) other(session string) string {
	if session == m.session {
		return ""
	}
	return session
}

// tag marks an event of another session (a command another process runs
// through this one).
func (m Model) tag(session string) string {
	if session == m.session || session == "" {
		return ""
	}
	return "[" + session + "] "
}

func mark(status string) string {
	switch status {
	case msg.StatusOK:
		return good.Render("✓")
	case msg.StatusSkipped:
		return "·"
	}
	return bad.Render("✗")
}

// log adds one event line. The arguments are cleaned of control
// characters; mark is the view's own styling and is kept.
func (m *Model) log(mark, format string, args ...any) {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = safe.Clean(s)
		}
	}
	line := m.now().Format("15:04:05.000") + " "
	if mark != "" {
		line += mark + " "
	}
	m.events = append(m.events, line+fmt.Sprintf(format, args...))
	if len(m.events) > maxEvents {
		m.events = m.events[len(m.events)-maxEvents:]
	}
}

// View renders the live view in width×height cells.
func (m Model) View(width, height int) string {
	var b strings.Builder
	hub := "hub: running"
	if m.status != nil {
		hub = fmt.Sprintf("hub: running · %d session(s) · %d query(ies) in flight · %d spoke(s) alive", m.status.Sessions, m.status.Queries, len(m.status.Spokes))
	}
	b.WriteString(head.Render(hub) + "\n")
	b.WriteString(head.Render(fmt.Sprintf("%-18s %-12s %-8s %-6s %s", "spoke (app)", "worker", "pid", "calls", "reason / state")) + "\n")
	// calls: calls its workers started in this TUI's lifetime; "busy (2)"
	// says how many run now.
	rows := 0
	for _, s := range m.spokes {
		if s.stopped != "" {
			continue
		}
		rows++
		pid := "-"
		if s.pid != 0 {
			pid = fmt.Sprint(s.pid)
		}
		note := s.reason
		if s.crashes > 0 {
			note = strings.TrimSpace(fmt.Sprintf("%s · %d crash(es)", note, s.crashes))
		}
		if s.session != "" {
			note = strings.TrimSpace("session " + s.session + " (another command) " + note)
		}
		worker := s.worker
		if s.worker == msg.WorkerBusy && s.inFlight > 1 {
			worker = fmt.Sprintf("busy (%d)", s.inFlight)
		}
		b.WriteString(safe.Cut(fmt.Sprintf("%-18s %-12s %-8s %-6d %s", safe.Cut(s.app, 18), worker, pid, s.calls, note), width) + "\n")
	}
	if rows == 0 {
		b.WriteString(faint.Render("no spokes alive in this session yet: ask something") + "\n")
	}
	b.WriteString(strings.Repeat("─", width) + "\n")
	used := 3 + max(rows, 1)
	n := max(height-used-1, 1)
	b.WriteString(head.Render("messages through the hub") + "\n")
	start := max(len(m.events)-n, 0)
	for _, l := range m.events[start:] {
		b.WriteString(safe.Cut(l, width) + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
