package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/actors/permission"
	"github.com/isolategpt/isolategpt/engine/batch"
	ut "github.com/isolategpt/isolategpt/engine/untrusted"
)

// Describe renders a prompt for a person. Every sentence is the hub's and
// names only identifiers the hub checked; values are the hub's rendering
// (quoted, escaped), each with where it came from. A value that carries an
// app's output gets lines of its own behind a gutter (│), cut to a width
// no terminal wraps, so it cannot start a line that looks like the hub's.
func Describe(p msg.Prompt) []string {
	var lines []string
	switch p.Kind {
	case msg.Exec:
		if p.Function == "" {
			lines = append(lines, fmt.Sprintf("Run the app %s on this task:", p.App))
			lines = append(lines, gutter(ut.Quote(p.Task, 400))...)
			if len(p.TaskLabels) > 0 {
				lines = append(lines, "  The task was written by "+permission.Origins(p.TaskLabels)+".")
			}
		} else {
			lines = append(lines, fmt.Sprintf("Run %s", p.Target()))
		}
	case msg.Data:
		// The destination in the hub's words: an app's assistant (its
		// agent loop) is named as such, not as "app.*".
		lines = append(lines, fmt.Sprintf("Give data from %s to %s", p.Origin, permission.Destination(p)))
	case msg.Collab:
		lines = append(lines, fmt.Sprintf("Let %s use %s", p.Requester, p.Target()))
	case msg.Pin:
		lines = append(lines, fmt.Sprintf("Run %s with the changed tools its server now reports (pin them)", p.App))
	default:
		// Never an empty description: the first line is what --yes prints.
		lines = append(lines, fmt.Sprintf("Allow %s for %s", ut.Quote(string(p.Kind), 20), p.Target()))
	}
	for _, d := range p.Data {
		name, value := ut.Clean(d.Name), ut.Clean(d.Value)
		if !d.Labels.FromApps() && len(d.Labels) > 0 {
			lines = append(lines, fmt.Sprintf("  %s = %s   (from %s)", name, value, origin(d)))
			continue
		}
		lines = append(lines, fmt.Sprintf("  %s, from %s:", name, origin(d)))
		lines = append(lines, gutter(value)...)
	}
	if len(p.Chosen) > 0 {
		lines = append(lines, "  The hub chose the app by comparing the output of "+strings.Join(permission.AppSources(p.Chosen), ", ")+".")
	}
	if p.Effect == "write" {
		lines = append(lines, "  This action changes something (for example books or sends).")
	}
	switch {
	case p.Kind == msg.Pin:
	case p.ChosenBy != "":
		lines = append(lines, fmt.Sprintf("  Asked for by %s, not by the plan for your query.", p.ChosenBy))
	case p.InPlan:
		lines = append(lines, "  Part of the plan for your query.")
	default:
		lines = append(lines, "  NOT part of the plan for your query.")
	}
	if p.Warning != "" {
		lines = append(lines, "  WARNING: "+p.Warning)
	}
	return lines
}

// gutter shows text the hub rendered on lines of its own, behind
// "    │ ", at most 70 cells each: an 80-column terminal never wraps them.
func gutter(text string) []string { return ut.Block(text, "    ", 70) }

// origin is where a value came from, in the hub's words.
func origin(d msg.DataItem) string {
	if len(d.Labels) == 0 {
		return ut.Quote(d.Origin, 80) + " (unlabelled)"
	}
	if d.Labels.OnlyQuery() {
		return "you"
	}
	return permission.Origins(d.Labels)
}

// Terminal asks on a terminal: the dialog goes to out, the answer is read
// from in. Each choice has its letter (o allow once, s allow session, a
// always allow, d deny; only the offered ones are shown), the same on every
// prompt; an answer that is not a choice asks again; Enter alone, end of
// input or no answer in time denies. Prompts are asked one at a time. With
// DiscardTypeAhead (set for an interactive terminal), lines typed while no
// prompt was open are thrown away, so they cannot answer one.
type Terminal struct {
	DiscardTypeAhead bool

	mu    sync.Mutex
	once  sync.Once
	in    io.Reader
	lines chan string
	out   io.Writer
}

// NewTerminal returns a terminal prompter. It starts reading in at once, so
// that with DiscardTypeAhead even lines typed before the first prompt are
// thrown away rather than taken as its answer.
func NewTerminal(in io.Reader, out io.Writer) *Terminal {
	t := &Terminal{in: in, out: out, lines: make(chan string, 16)}
	t.once.Do(func() { go t.read() })
	return t
}

func (t *Terminal) read() {
	sc := bufio.NewScanner(t.in)
	for sc.Scan() {
		t.lines <- sc.Text()
	}
	close(t.lines)
}

// promptEnd ends the line that asks for an answer.
const promptEnd = "(Enter = deny): "

// maxAsks bounds how often one prompt asks again before it denies.
const maxAsks = 5

// Menu is the line of choices a prompt offers: "[o] allow once  [d] deny".
func Menu(choices []msg.Decision) string {
	var opts []string
	for _, c := range choices {
		opts = append(opts, fmt.Sprintf("[%s] %s", c.Key(), c.Label()))
	}
	return strings.Join(opts, "  ")
}

// ParseAnswer reads a typed answer: a choice's letter or its name ("o",
// "allow once", "allow_once"). Only offered choices count.
func ParseAnswer(line string, choices []msg.Decision) (msg.Decision, bool) {
	a := strings.ToLower(strings.TrimSpace(line))
	for _, c := range choices {
		if a == c.Key() || a == string(c) || a == c.Label() {
			return c, true
		}
	}
	return "", false
}

// Prompt asks one question.
func (t *Terminal) Prompt(ctx context.Context, r *msg.PromptRequest) (msg.Decision, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.once.Do(func() { go t.read() })
	if t.DiscardTypeAhead {
		t.drain()
	}
	p := r.Prompt
	fmt.Fprintf(t.out, "\n── permission (%s) ──\n", p.Kind)
	for _, l := range Describe(p) {
		fmt.Fprintln(t.out, l)
	}
	choices := p.Choices()
	var keys []string
	for _, c := range choices {
		keys = append(keys, c.Key())
	}
	for range maxAsks {
		fmt.Fprintf(t.out, "%s  %s", Menu(choices), promptEnd)
		var line string
		select {
		case l, ok := <-t.lines:
			if !ok {
				fmt.Fprintln(t.out, "\n(end of input: denied)")
				return msg.Deny, nil
			}
			line = l
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), batch.ErrInterrupted) {
				fmt.Fprintln(t.out, "\n(interrupted: denied)")
			} else {
				fmt.Fprintln(t.out, "\n(no answer in time: denied)")
			}
			return msg.Deny, nil
		}
		if strings.TrimSpace(line) == "" {
			fmt.Fprintln(t.out, "(denied)")
			return msg.Deny, nil
		}
		if d, ok := ParseAnswer(line, choices); ok {
			return d, nil
		}
		fmt.Fprintf(t.out, "%q is not one of the choices here; type %s, or Enter to deny.\n", strings.TrimSpace(line), strings.Join(keys, ", "))
	}
	fmt.Fprintln(t.out, "(no valid answer: denied)")
	return msg.Deny, nil
}

// drain discards lines typed before the prompt was shown.
func (t *Terminal) drain() {
	for {
		select {
		case l, ok := <-t.lines:
			if !ok {
				// Keep the end of input visible to the next read.
				t.lines = closedLines()
				return
			}
			_ = l
		default:
			return
		}
	}
}

func closedLines() chan string {
	c := make(chan string)
	close(c)
	return c
}

// Yes allows every prompt once, and says so.
type Yes struct {
	mu  sync.Mutex
	out io.Writer
}

// NewYes returns the --yes prompter.
func NewYes(out io.Writer) *Yes { return &Yes{out: out} }

// AnsweredBy says --yes decided without a person looking: it never pins
// changed tools (frontend.Automatic).
func (y *Yes) AnsweredBy(msg.Prompt) msg.Answerer { return msg.ByDefault }

// Prompt allows once.
func (y *Yes) Prompt(_ context.Context, r *msg.PromptRequest) (msg.Decision, error) {
	y.mu.Lock()
	defer y.mu.Unlock()
	lines := Describe(r.Prompt)
	fmt.Fprintf(y.out, "allowed once (--yes): %s\n", strings.TrimSpace(lines[0]))
	return msg.AllowOnce, nil
}
