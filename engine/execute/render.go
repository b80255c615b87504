package execute

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/untrusted"
	"github.com/isolategpt/isolategpt/specs/schema"
)

// maxPreview caps how much of one value a prompt or an answer shows.
const maxPreview = 300

// Preview renders a value for a person (engine/untrusted): a string quoted
// with every character that does not print as itself escaped, a number as
// written, anything else as compact JSON; long values are cut.
func Preview(v any) string { return untrusted.Value(v, maxPreview) }

// maxPromptValue caps one value in a permission prompt: enough to
// recognise it, short enough that the other values stay in view.
const maxPromptValue = 100

// PromptValue renders a value for a permission prompt: as Preview, but a
// long value is cut sooner; a cut value says how long it really is.
func PromptValue(v any) string { return untrusted.Value(v, maxPromptValue) }

// Render fills the plan's answer template with the report's values and
// appends each step's outcome, attributed to its app. Only the hub writes
// the words around the values: an app's string is shown quoted and
// escaped, so it cannot start a line, hide a character or pose as the
// hub's words (the safe_text defence, which the evaluation alone switches
// off).
func (e *Executor) Render(g *plan.Graph, r *Report) string {
	value := Preview
	if !e.Defences.On(defence.SafeText) {
		value = rawValue
	}
	var b strings.Builder
	for i, line := range templateLines(g.Template) {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(renderLine(r, line, value))
	}
	text := strings.TrimSpace(b.String())
	if len(r.Steps) == 0 {
		return text
	}
	var s strings.Builder
	if text != "" {
		s.WriteString(text)
		s.WriteString("\n\n")
	}
	s.WriteString("Steps:")
	for _, o := range r.Steps {
		s.WriteString("\n  ")
		line := OutcomeLine(o)
		if utf8.RuneCountInString(line) <= maxStepLine {
			s.WriteString(line)
			continue
		}
		// A long result goes on gutter lines of its own, laid out by the
		// hub, so no terminal wrap can start a line with app text.
		head, result := stepParts(o)
		s.WriteString(head)
		if result != "" {
			s.WriteString(":")
			for _, l := range untrusted.Block(result, "\n      ", maxStepLine-8) {
				s.WriteString(l)
			}
		}
	}
	return s.String()
}

// maxStepLine is the longest step line the hub writes whole: with its
// indent it fits an 80-column terminal.
const maxStepLine = 76

// Render is Executor.Render with every defence on.
func Render(g *plan.Graph, r *Report) string { return (&Executor{}).Render(g, r) }

// rawValue is how values were shown before the safe_text defence: as the
// app wrote them.
func rawValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if n, ok := v.(json.Number); ok {
		return n.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// OutcomeLine is one line about one step: who ran what, and what came of it.
func OutcomeLine(o msg.StepOutcome) string {
	head, result := stepParts(o)
	if result == "" {
		return head
	}
	return head + " → " + result
}

// stepParts is a step's line without its result, and its result rendered.
func stepParts(o msg.StepOutcome) (head, result string) {
	who := o.App
	switch {
	case o.Kind == string(plan.KindOp):
		who = "hub"
	case o.Function != "" && o.App == "":
		who = o.Function + " (no app chosen)"
	case o.Function != "":
		who = o.App + "." + o.Function
	case o.App != "":
		who = o.App + " (agent)"
	}
	head = fmt.Sprintf("[%s] %s: %s", o.Step, who, o.Status)
	if o.Reason != "" {
		// The hub's words, with any app text in them already quoted.
		head += " (" + untrusted.Escape(cutRunes(o.Reason, maxPreview)) + ")"
	}
	if o.Status == msg.StatusOK && o.Kind != string(plan.KindOp) && len(o.Result) > 0 {
		if v, err := schema.Decode(o.Result, DefaultMaxResultBytes); err == nil {
			result = Preview(v)
		}
	}
	return head, result
}

// templateLines splits a template into its lines.
func templateLines(segs []plan.Segment) [][]plan.Segment {
	lines := [][]plan.Segment{nil}
	for _, seg := range segs {
		if seg.Ref != nil {
			lines[len(lines)-1] = append(lines[len(lines)-1], seg)
			continue
		}
		for i, part := range strings.Split(seg.Text, "\n") {
			if i > 0 {
				lines = append(lines, nil)
			}
			if part != "" {
				lines[len(lines)-1] = append(lines[len(lines)-1], plan.Segment{Text: part})
			}
		}
	}
	return lines
}

// renderLine fills one line of the template. A line that needs a step
// which did not succeed says so once, after the words that introduce it
// ("book ride with metro_hail: ⟨step act was denied⟩"), instead of a
// marker in place of each of that step's values.
func renderLine(r *Report, line []plan.Segment, value func(any) string) string {
	var b strings.Builder
	for i, seg := range line {
		if seg.Ref == nil {
			b.WriteString(seg.Text)
			continue
		}
		if _, ok := r.Value(seg.Ref.Step); ok {
			b.WriteString(renderRef(r, seg.Ref, value))
			continue
		}
		var missing []string
		for _, s := range line[i:] {
			if s.Ref != nil {
				if _, ok := r.Value(s.Ref.Step); !ok && !slices.Contains(missing, s.Ref.Step) {
					missing = append(missing, s.Ref.Step)
				}
			}
		}
		head := strings.TrimRight(b.String(), " ")
		if k := strings.LastIndex(head, ": "); k >= 0 {
			head = head[:k+1]
		}
		var marks []string
		for _, step := range missing {
			marks = append(marks, renderRef(r, &plan.Ref{Step: step}, value))
		}
		return strings.TrimSpace(head + " " + strings.Join(marks, " "))
	}
	return b.String()
}

func cutRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func renderRef(r *Report, ref *plan.Ref, value func(any) string) string {
	v, ok := r.Value(ref.Step)
	if !ok {
		status := "did not run"
		for _, o := range r.Steps {
			if o.Step == ref.Step {
				status = pastTense(o.Status)
			}
		}
		return fmt.Sprintf("⟨step %s %s⟩", ref.Step, status)
	}
	v, ok = lookup(v, ref.Path)
	if !ok {
		return fmt.Sprintf("⟨%s: no value⟩", ref)
	}
	return value(v)
}
