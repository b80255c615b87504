// Package tui is isolategpt's terminal UI (Bubble Tea): a chat, the
// permission dialog, a live view of the hub, spokes and ISC, a metrics panel
// and an apps screen, over one engine session.
//
//	engine ──PromptRequest──▶ frontend actor ──Prompter.Prompt──▶ PromptMsg ──▶ Model
//	       ◀──PromptReply────                ◀──decision (Reply)──── dialog
//	event stream ──(buffered, never blocks the publisher)──▶ EventMsg ──▶ live view
package tui

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/metrics"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/tui/apps"
	"github.com/isolategpt/isolategpt/tui/chat"
	"github.com/isolategpt/isolategpt/tui/dialog"
	"github.com/isolategpt/isolategpt/tui/live"
	"github.com/isolategpt/isolategpt/tui/metricsview"
)

// Screens.
const (
	ScreenChat = iota
	ScreenLive
	ScreenMetrics
	ScreenApps
)

var screenNames = []string{"Chat", "Live", "Metrics", "Apps"}

// Env is what the TUI runs on.
type Env struct {
	Engine  *engine.Engine
	Session *engine.Session
	// Metrics may be nil: the panel then shows only what the hub reports.
	Metrics     *metrics.Collector
	MetricsAddr string
	// Now is the clock for the dialog's grace period and event stamps.
	Now   func() time.Time
	Grace time.Duration
	// History is how many earlier turns the chat shows (0: 20).
	History int
	// Refresh is how often the live view and metrics are refreshed (0: 1s).
	Refresh time.Duration
}

// EventMsg carries one event from the actor system's event stream.
type EventMsg struct{ Event any }

type answerMsg struct {
	a   *msg.Answer
	err error
}

type tickMsg struct{}

type refreshMsg struct {
	status *msg.StatusReply
	snap   metrics.Snapshot
	// sandbox is every layer of the apps' sandbox (nil without workers).
	sandbox []sandbox.Layer
}

type appsMsg struct {
	note string
	err  error
}

type pending struct {
	id    uint64
	req   *msg.PromptRequest
	reply chan<- msg.Decision
}

// Model is the TUI's top-level model.
type Model struct {
	env           Env
	ctx           context.Context
	width, height int
	screen        int
	chat          chat.Model
	live          live.Model
	apps          apps.Model
	snap          metrics.Snapshot
	// weaker names the sandbox layers this host does not give (the user
	// allowed it): shown in the header on every screen.
	weaker []string
	// interrupted counts this user's write steps found started without an
	// outcome when the engine opened: named in the header, never retried.
	interrupted int
	// queue holds the prompts waiting for the user; the first one is open
	// as dialog.
	queue   []pending
	dialog  dialog.Model
	expired map[uint64]bool
	err     string
}

var (
	titleStyle = lipgloss.NewStyle().Bold(true)
	tabOn      = lipgloss.NewStyle().Reverse(true).Bold(true)
	faint      = lipgloss.NewStyle().Faint(true)
	errStyle   = lipgloss.NewStyle().Foreground(lipgloss.Color("9"))
)

// New builds the model: the chat starts with the user's earlier turns.
func New(ctx context.Context, env Env) (*Model, error) {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Grace == 0 {
		env.Grace = dialog.DefaultGrace
	}
	if env.History == 0 {
		env.History = 20
	}
	if env.Refresh == 0 {
		env.Refresh = time.Second
	}
	m := &Model{env: env, ctx: ctx, width: 100, height: 30, chat: chat.New(), live: live.New(env.Session.ID(), env.Now), expired: map[uint64]bool{}}
	turns, err := env.Engine.Store().RecentTurns(env.Session.User(), env.History)
	if err != nil {
		return nil, fmt.Errorf("tui: history: %w", err)
	}
	answers, err := historyAnswers(env.Engine.Store(), env.Session.User(), turns)
	if err != nil {
		return nil, fmt.Errorf("tui: history: %w", err)
	}
	m.chat.AddHistory(turns, answers)
	for _, r := range env.Engine.Interruptions() {
		if r.User == env.Session.User() {
			m.interrupted++
		}
	}
	m.loadApps("")
	m.resize()
	return m, nil
}

// historyAnswers finds the answers of earlier turns in the audit log: the
// hub's memory keeps only hub-authored facts (the planner reads it), while
// the audit log has each answer as the user saw it.
func historyAnswers(st *store.Store, user string, turns []store.Turn) (map[string]string, error) {
	out := map[string]string{}
	if len(turns) == 0 {
		return out, nil
	}
	want := map[string]bool{}
	for _, t := range turns {
		want[t.QueryID] = true
	}
	err := st.AuditLog(user, func(r store.AuditRecord) error {
		if r.Kind != "answer" || !want[r.QueryID] {
			return nil
		}
		var d struct {
			Answer string `json:"answer"`
		}
		if json.Unmarshal(r.Detail, &d) == nil && d.Answer != "" {
			out[r.QueryID] = d.Answer
		}
		return nil
	})
	return out, err
}

// Filter runs before every message: once the chat's input line is full,
// typed characters are dropped here, before each costs an update and a
// frame (a paste without bracketed paste comes as a message per word).
func Filter(tm tea.Model, t tea.Msg) tea.Msg {
	m, ok := tm.(*Model)
	k, key := t.(tea.KeyMsg)
	if !ok || !key || k.Paste || (k.Type != tea.KeyRunes && k.Type != tea.KeySpace) ||
		len(m.queue) > 0 || m.screen != ScreenChat || !m.chat.Full() {
		return t
	}
	n := len(k.Runes)
	if k.Type == tea.KeySpace {
		n = 1
	}
	m.chat.Drop(n)
	return nil
}

// Init starts the refresh ticks.
func (m *Model) Init() tea.Cmd { return m.tick() }

func (m *Model) tick() tea.Cmd {
	return tea.Tick(m.env.Refresh, func(time.Time) tea.Msg { return tickMsg{} })
}

// refresh asks the hub and the collector, off the program's goroutine.
func (m *Model) refresh() tea.Cmd {
	e, c, ctx := m.env.Engine, m.env.Metrics, m.ctx
	return func() tea.Msg {
		var r refreshMsg
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		r.status, _ = e.Status(sctx)
		r.sandbox = e.SandboxStatus(sctx)
		if c != nil {
			r.snap = c.Snapshot(sctx)
		}
		return r
	}
}

func (m *Model) loadApps(note string) {
	st, user := m.env.Engine.Store(), m.env.Session.User()
	installed, err := st.Manifests()
	if err != nil {
		m.err = "apps: " + err.Error()
	}
	grants, err := st.Grants(user)
	if err != nil {
		m.err = "grants: " + err.Error()
	}
	m.apps.Load(m.env.Engine.Catalog(), installed, grants)
	m.apps.SetNote(note)
}

func (m *Model) bodyHeight() int { return max(m.height-2, 3) }

func (m *Model) resize() {
	m.chat.SetSize(m.width, m.bodyHeight())
	if len(m.queue) > 0 {
		m.dialog.SetSize(m.dialogSize())
	}
}

// Update handles one message.
func (m *Model) Update(t tea.Msg) (tea.Model, tea.Cmd) {
	switch t := t.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = t.Width, t.Height
		m.resize()
		return m, nil
	case PromptMsg:
		if m.expired[t.ID] {
			delete(m.expired, t.ID)
			return m, nil
		}
		m.queue = append(m.queue, pending{id: t.ID, req: t.Req, reply: t.Reply})
		if len(m.queue) == 1 {
			m.openDialog()
		}
		return m, nil
	case PromptExpired:
		m.expire(t.ID)
		return m, nil
	case EventMsg:
		m.live.Observe(t.Event)
		return m, nil
	case Remote:
		m.chat.AddRemote(t.PID, t.Command, t.Query, t.Answer, t.Err, t.Done, t.Code)
		return m, nil
	case answerMsg:
		m.chat.AddAnswer(t.a, t.err)
		m.loadApps("")
		return m, m.refresh()
	case tickMsg:
		return m, tea.Batch(m.refresh(), m.tick())
	case refreshMsg:
		if t.status != nil {
			m.live.SetStatus(t.status)
		}
		m.weaker = nil
		for _, l := range sandbox.Missing(t.sandbox) {
			m.weaker = append(m.weaker, l.Name)
		}
		if m.env.Metrics != nil {
			m.snap = t.snap
		}
		return m, nil
	case appsMsg:
		note := t.note
		if t.err != nil {
			note = errStyle.Render(t.err.Error())
		}
		m.loadApps(note)
		return m, nil
	case tea.KeyMsg:
		return m.key(t)
	}
	var cmd tea.Cmd
	m.chat, cmd, _ = m.chat.Update(t)
	return m, cmd
}

func (m *Model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if k.String() == "ctrl+c" {
		m.denyAll()
		return m, tea.Quit
	}
	if len(m.queue) > 0 {
		var d msg.Decision
		var done bool
		m.dialog, d, done = m.dialog.Update(k)
		if done {
			m.answer(d)
		}
		return m, nil
	}
	switch k.String() {
	case "tab":
		m.screen = (m.screen + 1) % len(screenNames)
		return m, nil
	case "shift+tab":
		m.screen = (m.screen + len(screenNames) - 1) % len(screenNames)
		return m, nil
	case "f1", "f2", "f3", "f4":
		m.screen = int(k.String()[1] - '1')
		return m, nil
	}
	switch m.screen {
	case ScreenChat:
		var cmd tea.Cmd
		var q string
		m.chat, cmd, q = m.chat.Update(k)
		if q != "" {
			m.chat.AddQuery(q)
			return m, tea.Batch(cmd, m.ask(q))
		}
		return m, cmd
	case ScreenApps:
		var key string
		m.apps, key = m.apps.Update(k)
		if key != "" {
			return m, m.revoke(key)
		}
	}
	if k.String() == "q" {
		m.denyAll()
		return m, tea.Quit
	}
	return m, nil
}

func (m *Model) ask(q string) tea.Cmd {
	s, ctx := m.env.Session, m.ctx
	return func() tea.Msg {
		a, err := s.Ask(ctx, q)
		return answerMsg{a: a, err: err}
	}
}

func (m *Model) revoke(key string) tea.Cmd {
	st, user := m.env.Engine.Store(), m.env.Session.User()
	return func() tea.Msg {
		if err := st.RevokeGrant(user, key); err != nil {
			return appsMsg{err: fmt.Errorf("revoke %s: %w", key, err)}
		}
		return appsMsg{note: "revoked " + key + ": you will be asked again"}
	}
}

func (m *Model) openDialog() {
	m.dialog = dialog.New(m.queue[0].req, m.env.Now, m.env.Grace)
	m.dialog.SetSize(m.dialogSize())
}

// dialogSize is the room the dialog has: the body, less a line for the
// count of prompts waiting behind it.
func (m *Model) dialogSize() (int, int) {
	h := m.bodyHeight()
	if len(m.queue) > 1 {
		h--
	}
	return min(m.width, 96), h
}

// answer replies to the open dialog and opens the next one, if any.
func (m *Model) answer(d msg.Decision) {
	m.queue[0].reply <- d
	m.queue = m.queue[1:]
	if len(m.queue) > 0 {
		m.openDialog()
	}
}

func (m *Model) expire(id uint64) {
	for i, p := range m.queue {
		if p.id != id {
			continue
		}
		m.chat.AddNote("no answer in time: denied " + dialog.Summary(p.req.Prompt))
		m.queue = append(m.queue[:i], m.queue[i+1:]...)
		if i == 0 && len(m.queue) > 0 {
			m.openDialog()
		}
		return
	}
	m.expired[id] = true
}

// denyAll answers every waiting prompt with deny (the user quit).
func (m *Model) denyAll() {
	for _, p := range m.queue {
		p.reply <- msg.Deny
	}
	m.queue = nil
}

// View renders the whole screen.
func (m *Model) View() string {
	info := m.env.Engine.ModelInfo()
	model := info.String()
	if info.Offline {
		model = "offline model (not an LLM)"
	}
	narrow := m.width < 90
	var tabs []string
	for i, n := range screenNames {
		label := fmt.Sprintf(" F%d %s ", i+1, n)
		if narrow {
			// The current screen's name, the others' keys.
			label = fmt.Sprintf(" F%d ", i+1)
			if i == m.screen {
				label = fmt.Sprintf(" F%d %s ", i+1, n)
			}
		}
		if i == m.screen {
			label = tabOn.Render(label)
		}
		tabs = append(tabs, label)
	}
	if narrow && info.Offline {
		model = "offline model"
	}
	header := titleStyle.Render("isolategpt") + faint.Render(" · "+m.env.Session.User()+" · "+model) + "  " + strings.Join(tabs, "")
	if len(m.weaker) > 0 {
		header += errStyle.Render("  sandbox weaker, missing: " + strings.Join(m.weaker, ", ") + " (isolategpt sandbox status)")
	}
	if m.interrupted > 0 {
		header += errStyle.Render(fmt.Sprintf("  %d write step(s) interrupted, outcome unknown (isolategpt audit)", m.interrupted))
	}
	h := m.bodyHeight()
	var body string
	switch {
	case len(m.queue) > 0:
		w, dh := m.dialogSize()
		d := m.dialog.ViewSize(w, dh)
		if n := len(m.queue) - 1; n > 0 {
			d += "\n" + faint.Render(fmt.Sprintf("%d more permission prompt(s) waiting", n))
		}
		body = lipgloss.Place(m.width, h, lipgloss.Center, lipgloss.Center, d)
	case m.screen == ScreenLive:
		body = m.live.View(m.width, h)
	case m.screen == ScreenMetrics:
		body = metricsview.View(m.snap, m.env.MetricsAddr, m.width, h)
	case m.screen == ScreenApps:
		body = m.apps.View(m.width, h)
	default:
		body = m.chat.View()
	}
	footer := faint.Render("Tab/F1–F4 screens · Enter ask · PgUp/PgDn scroll · Ctrl+C quit")
	if len(m.queue) > 0 {
		footer = faint.Render("o/s/a/d or ←/→ choose · Enter confirm · Esc deny · PgUp/PgDn scroll · Ctrl+C quit")
	}
	if m.err != "" {
		footer = errStyle.Render(m.err)
	}
	cut := lipgloss.NewStyle().MaxWidth(m.width)
	return cut.Render(header) + "\n" + fit(body, h) + "\n" + cut.Render(footer)
}

// fit pads or cuts s to exactly n lines, so the frame never scrolls.
func fit(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	for len(lines) < n {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}
