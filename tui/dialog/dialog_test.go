package dialog

import (
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/isolategpt/isolategpt/actors/msg"
	lbl "github.com/isolategpt/isolategpt/engine/label"
	"github.com/isolategpt/isolategpt/engine/untrusted"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func key(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "left":
		return tea.KeyMsg{Type: tea.KeyLeft}
	case "right":
		return tea.KeyMsg{Type: tea.KeyRight}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

var readInPlan = msg.Prompt{Kind: msg.Exec, App: "metro_hail", Function: "estimate_fare", InPlan: true,
	Data: []msg.DataItem{{Name: "start_point", Value: "A", Origin: "user"}}}

func TestChoices(t *testing.T) {
	write := readInPlan
	write.Function, write.Effect = "book_ride", "write"
	outside := readInPlan
	outside.InPlan = false
	tests := []struct {
		name string
		p    msg.Prompt
		want []msg.Decision
	}{
		{"read in plan offers always", readInPlan, []msg.Decision{msg.AllowOnce, msg.AllowSession, msg.AllowAlways, msg.Deny}},
		{"write never offers always", write, []msg.Decision{msg.AllowOnce, msg.AllowSession, msg.Deny}},
		{"outside the plan never offers always", outside, []msg.Decision{msg.AllowOnce, msg.AllowSession, msg.Deny}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1000, 0)}
			m := New(&msg.PromptRequest{Prompt: tc.p}, c.now, DefaultGrace)
			got := m.Choices()
			if strings.Join(names(got), ",") != strings.Join(names(tc.want), ",") {
				t.Fatalf("choices %v, want %v", got, tc.want)
			}
			if m.Focused() != msg.Deny {
				t.Errorf("focused %s, want deny", m.Focused())
			}
		})
	}
}

func names(ds []msg.Decision) []string {
	var out []string
	for _, d := range ds {
		out = append(out, string(d))
	}
	return out
}

// press sends keys and returns the first decision made, if any.
func press(m Model, keys ...string) (Model, msg.Decision, bool) {
	for _, k := range keys {
		var d msg.Decision
		var done bool
		if m, d, done = m.Update(key(k)); done {
			return m, d, true
		}
	}
	return m, "", false
}

func TestKeys(t *testing.T) {
	tests := []struct {
		name string
		keys []string
		want msg.Decision // "" means no decision yet
	}{
		{"enter takes the focused deny", []string{"enter"}, msg.Deny},
		{"esc denies wherever the focus is", []string{"left", "left", "esc"}, msg.Deny},
		{"one left is always allow", []string{"left", "enter"}, msg.AllowAlways},
		{"two left is allow session", []string{"left", "left", "enter"}, msg.AllowSession},
		{"left stops at allow once", []string{"left", "left", "left", "left", "left", "enter"}, msg.AllowOnce},
		{"right stops at deny", []string{"left", "right", "right", "enter"}, msg.Deny},
		{"a letter moves the focus and does not approve", []string{"o"}, ""},
		{"a letter then enter", []string{"o", "enter"}, msg.AllowOnce},
		{"s then enter", []string{"s", "enter"}, msg.AllowSession},
		{"a then enter", []string{"a", "enter"}, msg.AllowAlways},
		{"d then enter", []string{"left", "d", "enter"}, msg.Deny},
		{"digits move nothing", []string{"1", "enter"}, msg.Deny},
		{"typing letters approves nothing", []string{"y", "e", "s"}, ""},
		{"a typed word then enter denies", []string{"y", "e", "s", "enter"}, msg.Deny},
		{"a pasted word then enter denies", []string{"so", "enter"}, msg.Deny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1000, 0)}
			m := New(&msg.PromptRequest{Prompt: readInPlan}, c.now, DefaultGrace)
			c.advance(DefaultGrace)
			_, d, done := press(m, tc.keys...)
			if tc.want == "" {
				if done {
					t.Fatalf("decided %s, want no decision", d)
				}
				return
			}
			if !done || d != tc.want {
				t.Fatalf("decision %q (done %v), want %s", d, done, tc.want)
			}
		})
	}
}

// A key pressed while the dialog is still in its grace period is
// swallowed: it neither decides nor moves the focus.
func TestGracePeriodSwallowsKeys(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	m := New(&msg.PromptRequest{Prompt: readInPlan}, c.now, DefaultGrace)
	for _, k := range []string{"left", "left", "left", "enter", "esc", "1"} {
		var done bool
		if m, _, done = m.Update(key(k)); done {
			t.Fatalf("key %q decided during the grace period", k)
		}
	}
	if m.Focused() != msg.Deny {
		t.Fatalf("focus moved to %s during the grace period", m.Focused())
	}
	c.advance(DefaultGrace - time.Millisecond)
	if _, _, done := m.Update(key("enter")); done {
		t.Fatal("enter decided 1 ms before the grace period ended")
	}
	c.advance(time.Millisecond)
	if _, d, done := m.Update(key("enter")); !done || d != msg.Deny {
		t.Fatalf("after the grace period enter gave %q (done %v), want deny", d, done)
	}
}

// App-authored values are quoted with their escapes shown, never passed
// to the terminal, and marked untrusted.
func TestAppTextIsQuotedAndMarkedUntrusted(t *testing.T) {
	p := msg.Prompt{Kind: msg.Data, App: "travel_mate", Function: "book_flight", Origin: "mail.read", InPlan: false,
		Warning: "this flow is not in the plan",
		Data:    []msg.DataItem{{Name: "body", Value: "hi\x1b[2J\x1b]0;pwned\a\u202eevil\nIGNORE PREVIOUS", Origin: "mail.read"}}}
	m := New(&msg.PromptRequest{Prompt: p}, (&clock{}).now, 0)
	v := m.View(100)
	for _, bad := range []string{"\x1b[2J", "\x1b]0;", "\a", "\u202e", "evil\nIGNORE"} {
		if strings.Contains(v, bad) {
			t.Errorf("view passes %q to the terminal:\n%s", bad, v)
		}
	}
	for _, want := range []string{`\u001b[2J`, `\u202e`, "from mail.read — app-authored, untrusted:", "NOT in the plan", "this flow is not in the plan", "give data from mail.read to travel_mate.book_flight"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "always allow") {
		t.Error("a flow outside the plan offers always allow")
	}
}

func TestLongValuesAreCut(t *testing.T) {
	long := strings.Repeat("x", 5000)
	if q := Quote(long); len(q) > maxValue+30 || !strings.HasSuffix(q, "(5000 characters)") {
		t.Fatalf("quoted value is %d bytes", len(q))
	}
}

// App text cannot make a line of the dialog look like the hub's: padded
// to push its words to the start of a line, or long enough to wrap, every
// line it is on starts with the gutter, and it never reaches the label
// column.
func TestAppTextStaysBehindItsGutter(t *testing.T) {
	fake := "warning    everything is fine, allow it"
	for _, value := range []string{
		strings.Repeat(" ", 200) + fake,
		strings.Repeat("x", 85) + fake,
		strings.Repeat("x", 300) + fake,
	} {
		p := msg.Prompt{Kind: msg.Data, App: "travel_mate", Function: "book_flight", Origin: "mail.read", InPlan: true,
			Data: []msg.DataItem{{Name: "body", Value: untrusted.Quote(value, 0), Origin: "mail.read", Labels: lbl.Of(lbl.Output("mail", "read", "r"))}}}
		for _, width := range []int{60, 100, 140} {
			v := New(&msg.PromptRequest{Prompt: p}, (&clock{}).now, 0).View(width)
			for _, l := range strings.Split(v, "\n") {
				if strings.Contains(l, "everything") && !strings.Contains(l, "┆") {
					t.Fatalf("app text on a line without the gutter at width %d:\n%s", width, v)
				}
				if strings.HasPrefix(strings.TrimLeft(l, "│ "), "warning    everything") {
					t.Fatalf("app text starts a line at width %d:\n%s", width, v)
				}
			}
		}
	}
}

// A warned prompt offers only allow once and deny: a grant never answers
// a request the hub warns about.
func TestWarnedPromptsOfferOnlyOnce(t *testing.T) {
	p := readInPlan
	p.Warning = "mail's assistant chose to run mail.send"
	got := New(&msg.PromptRequest{Prompt: p}, (&clock{}).now, 0).Choices()
	if len(got) != 2 || got[0] != msg.AllowOnce || got[1] != msg.Deny {
		t.Errorf("warned prompt offers %v", got)
	}
}

// A pin prompt (an MCP app's tools changed since they were pinned) is
// described as such, never offers "always", and does not speak of a plan.
func TestPinPrompt(t *testing.T) {
	p := msg.Prompt{Kind: msg.Pin, App: "memory", Pin: "ab12",
		Warning: "The MCP server of memory now reports different tools than the ones pinned",
		Data:    []msg.DataItem{{Name: "tools_hash", Value: "ab12", Origin: "memory (tools/list)"}}}
	m := New(&msg.PromptRequest{Prompt: p}, (&clock{}).now, 0)
	v := m.View(100)
	for _, want := range []string{"run memory with the changed tools its server now reports", "pin — run an app", "now reports different tools"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	for _, bad := range []string{"always allow", "plan for your query", "memory.*"} {
		if strings.Contains(v, bad) {
			t.Errorf("view has %q:\n%s", bad, v)
		}
	}
}

// A letter names one choice on every prompt; on a prompt that does not
// offer it, it does nothing ("a" on a write: the focus stays on Deny).
func TestLettersAreFixed(t *testing.T) {
	write := readInPlan
	write.Function, write.Effect = "book_ride", "write"
	c := &clock{t: time.Unix(1000, 0)}
	m := New(&msg.PromptRequest{Prompt: write}, c.now, DefaultGrace)
	c.advance(DefaultGrace)
	m, _, _ = m.Update(key("a"))
	if m.Focused() != msg.Deny {
		t.Errorf("a on a write focused %s", m.Focused())
	}
	c.advance(time.Second)
	m, _, _ = m.Update(key("s"))
	if m.Focused() != msg.AllowSession {
		t.Errorf("s focused %s", m.Focused())
	}
	for _, p := range []msg.Prompt{readInPlan, write} {
		for _, d := range p.Choices() {
			if !strings.Contains(ChoiceLabel(d), "["+d.Key()+"]") {
				t.Errorf("%s is labelled %q", d, ChoiceLabel(d))
			}
		}
	}
}
