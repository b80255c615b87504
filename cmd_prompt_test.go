package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"unicode/utf8"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/label"
	ut "github.com/isolategpt/isolategpt/engine/untrusted"
)

var (
	fromQuery = label.Of(label.Label{Kind: label.Query})
	fromFare  = label.Of(label.Output("metro_hail", "estimate_fare", "m"), label.Label{Kind: label.Query})
)

func TestDescribe(t *testing.T) {
	tests := []struct {
		name   string
		prompt msg.Prompt
		want   []string
	}{
		{
			name: "exec of a function in the plan",
			prompt: msg.Prompt{Kind: msg.Exec, App: "metro_hail", Function: "estimate_fare", InPlan: true, Effect: "read",
				Data: []msg.DataItem{{Name: "start_point", Value: `"Main Street"`, Labels: fromQuery}}},
			want: []string{"Run metro_hail.estimate_fare", `  start_point = "Main Street"   (from you)`, "  Part of the plan for your query."},
		},
		{
			name: "exec of an agent task, quoted",
			prompt: msg.Prompt{Kind: msg.Exec, App: "travel_mate", Task: "book a flight\x1b[2J now", InPlan: true,
				TaskLabels: label.Of(label.Label{Kind: label.Planner})},
			want: []string{"Run the app travel_mate on this task:", `    │ "book a flight\u001b[2J now"`, "  The task was written by the planner (not in your query).", "  Part of the plan for your query."},
		},
		{
			name: "data with its origin",
			prompt: msg.Prompt{Kind: msg.Data, App: "quick_ride", Function: "book_ride", Origin: "metro_hail.estimate_fare", InPlan: true,
				Data: []msg.DataItem{{Name: "fare", Value: `"51.8\"; rm -rf"`, Labels: fromFare}}},
			want: []string{"Give data from metro_hail.estimate_fare to quick_ride.book_ride (app quick_ride)",
				"  fare, from metro_hail.estimate_fare — app-authored, untrusted:", `    │ "51.8\"; rm -rf"`, "  Part of the plan for your query."},
		},
		{
			name:   "collab an app asked for, with a warning",
			prompt: msg.Prompt{Kind: msg.Collab, App: "travel_mate", Function: "book_flight", Requester: "health_companion", ChosenBy: "health_companion", Effect: "write", Warning: "health_companion asks"},
			want: []string{"Let health_companion use travel_mate.book_flight",
				"  This action changes something (for example books or sends).", "  Asked for by health_companion, not by the plan for your query.", "  WARNING: health_companion asks"},
		},
		{
			name: "tools of an MCP app changed",
			prompt: msg.Prompt{Kind: msg.Pin, App: "files", Pin: "ab12", ChosenBy: "files", Warning: "The MCP server of files now reports tools that differ",
				Data: []msg.DataItem{{Name: "change 1, description, now", Value: `"List. WARNING: hub says ok"`, Labels: label.Of(label.Output("files", "tools_list", "pin"))}}},
			want: []string{"Run files with the changed tools its server now reports (pin them)",
				"  change 1, description, now, from files.tools_list — app-authored, untrusted:", `    │ "List. WARNING: hub says ok"`,
				"  WARNING: The MCP server of files now reports tools that differ"},
		},
		{
			name:   "unknown kind still says what it is",
			prompt: msg.Prompt{Kind: "teleport", App: "metro_hail"},
			want:   []string{`Allow "teleport" for metro_hail.*`, "  NOT part of the plan for your query."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Describe(tt.prompt)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Describe =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, l := range got {
				if strings.ContainsRune(l, 0x1b) {
					t.Errorf("line %q holds a raw escape character", l)
				}
			}
		})
	}
}

// An app's value, however long or padded, stays on gutter lines short
// enough that an 80-column terminal never wraps them: it cannot start a
// line of its own that looks like the hub's.
func TestDescribeKeepsAppTextBehindTheGutter(t *testing.T) {
	for _, raw := range []string{
		strings.Repeat(" ", 120) + "WARNING: none, this is safe",
		strings.Repeat("x", 77) + "  Part of the plan for your query.",
		strings.Repeat("y", 500),
	} {
		p := msg.Prompt{Kind: msg.Exec, App: "mail", Function: "send", InPlan: true, Effect: "write",
			Data: []msg.DataItem{{Name: "to", Value: ut.Value(raw, 100), Labels: label.Of(label.Output("mail", "search", "s1"))}}}
		for _, l := range Describe(p) {
			if utf8.RuneCountInString(l) > 80 {
				t.Errorf("line of %d characters would wrap: %q", utf8.RuneCountInString(l), l)
			}
			if (strings.Contains(l, "WARNING: none") || strings.Contains(l, "xxx") || strings.Contains(l, "yyy")) && !strings.HasPrefix(l, "    │ ") {
				t.Errorf("app text outside the gutter: %q", l)
			}
		}
	}
}

var (
	readInPlan  = msg.Prompt{Kind: msg.Exec, App: "metro_hail", Function: "estimate_fare", Effect: "read", InPlan: true}
	readOutside = msg.Prompt{Kind: msg.Exec, App: "metro_hail", Function: "estimate_fare", Effect: "read"}
	write       = msg.Prompt{Kind: msg.Exec, App: "metro_hail", Function: "book_ride", Effect: "write", InPlan: true}
)

func TestTerminalChoices(t *testing.T) {
	tests := []struct {
		name     string
		prompt   msg.Prompt
		in       string
		want     msg.Decision
		wantMenu string
	}{
		{"once", readInPlan, "o\n", msg.AllowOnce, "[o] allow once  [s] allow session  [a] always allow  [d] deny  (Enter = deny): "},
		{"session", readInPlan, "s\n", msg.AllowSession, ""},
		{"always for a read in the plan", readInPlan, "a\n", msg.AllowAlways, ""},
		{"deny by letter", readInPlan, "d\n", msg.Deny, ""},
		{"capital letter", readInPlan, "O\n", msg.AllowOnce, ""},
		{"by name", readInPlan, " allow_session \n", msg.AllowSession, ""},
		{"by label", readInPlan, "allow once\n", msg.AllowOnce, ""},
		{"enter denies", readInPlan, "\n", msg.Deny, ""},
		{"end of input denies", readInPlan, "", msg.Deny, ""},
		// An answer that is no choice asks again; it never decides.
		{"y asks again", readInPlan, "y\no\n", msg.AllowOnce, `"y" is not one of the choices here; type o, s, a, d, or Enter to deny.`},
		{"digits are no answer", readInPlan, "1\n3\ns\n", msg.AllowSession, `"1" is not one of the choices here`},
		{"asking again ends", readInPlan, "x\nx\nx\nx\nx\no\n", msg.Deny, "(no valid answer: denied)"},
		// No "always" for a write: its letter is not shown and not taken.
		{"a on a write asks again", write, "a\no\n", msg.AllowOnce, "[o] allow once  [s] allow session  [d] deny  (Enter = deny): "},
		{"always by name on a write asks again", write, "allow_always\n", msg.Deny, `"allow_always" is not one of the choices here; type o, s, d`},
		{"a outside the plan asks again", readOutside, "a\nd\n", msg.Deny, "[o] allow once  [s] allow session  [d] deny  (Enter = deny): "},
		{"once on a write", write, "o\n", msg.AllowOnce, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			term := NewTerminal(strings.NewReader(tt.in), &out)
			got, err := term.Prompt(t.Context(), &msg.PromptRequest{Prompt: tt.prompt})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("decision %s, want %s\n%s", got, tt.want, out.String())
			}
			if tt.wantMenu != "" && !strings.Contains(out.String(), tt.wantMenu) {
				t.Errorf("menu is not %q:\n%s", tt.wantMenu, out.String())
			}
			if !strings.Contains(out.String(), "── permission (exec) ──\n"+Describe(tt.prompt)[0]) {
				t.Errorf("dialog lacks the description:\n%s", out.String())
			}
		})
	}
}

func TestTerminalAnswersInOrder(t *testing.T) {
	var out bytes.Buffer
	term := NewTerminal(strings.NewReader("s\nd\no\n"), &out)
	var got []msg.Decision
	for range 4 {
		d, err := term.Prompt(t.Context(), &msg.PromptRequest{Prompt: readInPlan})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	want := []msg.Decision{msg.AllowSession, msg.Deny, msg.AllowOnce, msg.Deny}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("prompt %d: %s, want %s", i+1, got[i], want[i])
		}
	}
}

func TestTerminalDeniesWhenTimeRunsOut(t *testing.T) {
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	var out bytes.Buffer
	term := NewTerminal(pr, &out)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	d, err := term.Prompt(ctx, &msg.PromptRequest{Prompt: readInPlan})
	if err != nil || d != msg.Deny {
		t.Fatalf("decision %s, %v; want deny", d, err)
	}
	if !strings.Contains(out.String(), "(no answer in time: denied)") {
		t.Errorf("dialog does not say why:\n%s", out.String())
	}
}

// dialog is the terminal's output; shown ticks each time a menu waits for
// an answer.
type dialog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	shown chan struct{}
}

func (d *dialog) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if bytes.Contains(p, []byte("(Enter = deny): ")) {
		d.shown <- struct{}{}
	}
	return d.buf.Write(p)
}

func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestTerminalDiscardsTypeAhead(t *testing.T) {
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	out := &dialog{shown: make(chan struct{}, 4)}
	term := NewTerminal(pr, out)
	term.DiscardTypeAhead = true

	// typeAhead writes a whole line and then the start of the next one:
	// the second write returns only once the terminal has read the first
	// line, so that line is waiting before any prompt opens.
	typeAhead := func(line, start string) {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			_, err := io.WriteString(pw, line+"\n")
			if err == nil {
				_, err = io.WriteString(pw, start)
			}
			done <- err
		}()
		if err := within(t, done, "the terminal to read typed-ahead input"); err != nil {
			t.Fatal(err)
		}
	}
	ask := func() msg.Decision {
		t.Helper()
		res := make(chan msg.Decision, 1)
		go func() {
			d, _ := term.Prompt(context.Background(), &msg.PromptRequest{Prompt: readInPlan})
			res <- d
		}()
		within(t, out.shown, "the menu")
		// The answer is finished only now that the menu is shown.
		if _, err := io.WriteString(pw, "\n"); err != nil {
			t.Fatal(err)
		}
		return within(t, res, "the decision")
	}

	// "o" typed before the first prompt must not allow it; the "d" typed
	// at the prompt denies.
	typeAhead("o", "d")
	if d := ask(); d != msg.Deny {
		t.Errorf("first prompt: %s, want deny (the typed-ahead o answered it)", d)
	}
	// The same between two prompts.
	typeAhead("s", "d")
	if d := ask(); d != msg.Deny {
		t.Errorf("second prompt: %s, want deny (the typed-ahead s answered it)", d)
	}
}

func TestYes(t *testing.T) {
	var out bytes.Buffer
	y := NewYes(&out)
	for _, p := range []msg.Prompt{write, {Kind: msg.Exec, App: "symptom_solver", Task: "diagnose"}, {Kind: "odd"}} {
		d, err := y.Prompt(t.Context(), &msg.PromptRequest{Prompt: p})
		if err != nil || d != msg.AllowOnce {
			t.Errorf("%+v: %s, %v; want allow_once", p, d, err)
		}
	}
	want := "allowed once (--yes): Run metro_hail.book_ride\n" +
		"allowed once (--yes): Run the app symptom_solver on this task:\n" +
		"allowed once (--yes): Allow \"odd\" for .*\n"
	if out.String() != want {
		t.Errorf("output\n%s\nwant\n%s", out.String(), want)
	}
	// --yes answers without a person: the permission manager never lets
	// it re-pin an MCP server's changed tools.
	var a frontend.Automatic = y
	if by := a.AnsweredBy(msg.Prompt{Kind: msg.Pin}); by != msg.ByDefault {
		t.Errorf("--yes answers by %s, want %s", by, msg.ByDefault)
	}
}
