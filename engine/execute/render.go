package execute

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/plan"
)

// maxPreview caps how much of one value a prompt or an answer shows.
const maxPreview = 300

// Preview renders a value for a person: strings as they are with control
// characters removed, numbers as written, anything else as compact JSON;
// long values are cut with an ellipsis.
func Preview(v any) string {
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case json.Number:
		s = t.String()
	case nil:
		s = "null"
	default:
		b, err := json.Marshal(t)
		if err != nil {
			s = fmt.Sprint(t)
		} else {
			s = string(b)
		}
	}
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return ' '
		}
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		// Bidirectional overrides can make text read differently from what
		// it is; a prompt must show what is really there.
		if unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > maxPreview {
		s = string(r[:maxPreview]) + "…"
	}
	return s
}

// maxPromptValue caps one value in a permission prompt: enough to
// recognise it, short enough that the other values stay in view.
const maxPromptValue = 100

// PromptValue renders a value for a permission prompt: as Preview, but a
// long value is cut sooner and says how long it really is.
func PromptValue(v any) string {
	s := Preview(v)
	full := s
	if t, ok := v.(string); ok {
		full = t
	}
	n := len([]rune(full))
	if n <= maxPromptValue {
		return s
	}
	if r := []rune(strings.TrimSuffix(s, "…")); len(r) > maxPromptValue {
		s = string(r[:maxPromptValue])
	}
	return s + fmt.Sprintf("… (%d characters)", n)
}

// Render fills the plan's answer template with the report's values and
// appends each step's outcome, attributed to its app. Only the hub writes
// the words around the values.
func Render(g *plan.Graph, r *Report) string {
	var b strings.Builder
	for i, line := range templateLines(g.Template) {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(renderLine(g, r, line))
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
		s.WriteString(OutcomeLine(o))
	}
	return s.String()
}

// OutcomeLine is one line about one step: who ran what, and what came of it.
func OutcomeLine(o msg.StepOutcome) string {
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
	line := fmt.Sprintf("[%s] %s: %s", o.Step, who, o.Status)
	if o.Status == msg.StatusOK && o.Kind != string(plan.KindOp) && len(o.Result) > 0 {
		var v any
		if json.Unmarshal(o.Result, &v) == nil {
			line += " → " + Preview(v)
		}
	}
	if o.Reason != "" {
		line += " (" + Preview(o.Reason) + ")"
	}
	return line
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
func renderLine(g *plan.Graph, r *Report, line []plan.Segment) string {
	var b strings.Builder
	for i, seg := range line {
		if seg.Ref == nil {
			b.WriteString(seg.Text)
			continue
		}
		if _, ok := r.Value(seg.Ref.Step); ok {
			b.WriteString(renderRef(g, r, seg.Ref))
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
			marks = append(marks, renderRef(g, r, &plan.Ref{Step: step}))
		}
		return strings.TrimSpace(head + " " + strings.Join(marks, " "))
	}
	return b.String()
}

func renderRef(g *plan.Graph, r *Report, ref *plan.Ref) string {
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
	return Preview(v)
}
