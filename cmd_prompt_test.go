package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/actors/msg"
)

func TestDescribe(t *testing.T) {
	tests := []struct {
		name   string
		prompt msg.Prompt
		want   []string
	}{
		{
			name:   "exec of a function in the plan",
			prompt: msg.Prompt{Kind: msg.Exec, App: "metro_hail", Function: "estimate_fare", InPlan: true, Effect: "read"},
			want:   []string{"Run metro_hail.estimate_fare", "  Part of the plan for your query."},
		},
		{
			name:   "exec of an agent task, quoted",
			prompt: msg.Prompt{Kind: msg.Exec, App: "travel_mate", Task: "book a flight\x1b[2J now", InPlan: true},
			want:   []string{"Run the app travel_mate on this task:", `  "book a flight\x1b[2J now"`, "  Part of the plan for your query."},
		},
		{
			name: "data with its origin",
			prompt: msg.Prompt{Kind: msg.Data, App: "quick_ride", Function: "book_ride", Origin: "metro_hail.estimate_fare",
				Data: []msg.DataItem{{Name: "fare", Value: `51.8"; rm -rf`, Origin: "metro_hail.estimate_fare"}}},
			want: []string{"Give data from metro_hail.estimate_fare to quick_ride.book_ride (app quick_ride)", `  fare = "51.8\"; rm -rf"   (from metro_hail.estimate_fare)`},
		},
		{
			name:   "collab of a write function, outside the plan, with a warning",
			prompt: msg.Prompt{Kind: msg.Collab, App: "travel_mate", Function: "book_flight", Requester: "health_companion", Effect: "write", Warning: "not part of the plan"},
			want: []string{"Let health_companion use travel_mate.book_flight",
				"  This action changes something (for example books or sends).", "  WARNING: not part of the plan"},
		},
		{
			name: "tools of an MCP app changed",
			prompt: msg.Prompt{Kind: msg.Pin, App: "files", Pin: "ab12", Warning: `The MCP server of files now reports different tools (changed: "list_directory" (description)).`,
				Data: []msg.DataItem{{Name: "tools_hash", Value: "ab12", Origin: "files (tools/list)"}}},
			want: []string{"Run files with the changed tools its server now reports (pin them)", `  tools_hash = "ab12"   (from files (tools/list))`,
				`  WARNING: The MCP server of files now reports different tools (changed: "list_directory" (description)).`},
		},
		{
			name:   "unknown kind still says what it is",
			prompt: msg.Prompt{Kind: "teleport", App: "metro_hail"},
			want:   []string{`Allow "teleport" for metro_hail.*`},
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
}
