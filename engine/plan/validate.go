package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/schema"
)

// ErrInvalid wraps every reason Validate gives for rejecting a plan.
var ErrInvalid = errors.New("invalid plan")

var stepIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// maxArgs bounds the arguments of one step.
const maxArgs = 32

// Graph is a plan that passed validation, ready to execute.
type Graph struct {
	Plan     *Plan
	Nodes    []*Node // in plan order
	Template []Segment
	byID     map[string]*Node
	catalog  *Catalog
}

// Node is one validated step.
type Node struct {
	ID   string
	Kind Kind
	Step *Step
	// Deps are the steps this one waits for, sorted.
	Deps []string
	// Args are the call's arguments, literal or referenced.
	Args map[string]Arg
	// Candidates are the apps the step may run on: one for a call with
	// "app", the apps of the operator's steps for a call with "on", the
	// app of an agent step, none for an operator.
	Candidates []string
	// Functions maps each candidate app to the function called on it.
	Functions map[string]*specs.Function
}

// Arg is one argument: a literal value or a reference.
type Arg struct {
	Value any // decoded literal (numbers as json.Number); nil for a reference
	Ref   *Ref
}

// Ref points at an earlier step's result, or a field inside it.
type Ref struct {
	Step string
	Path []string
}

func (r Ref) String() string {
	if len(r.Path) == 0 {
		return r.Step
	}
	return r.Step + "." + strings.Join(r.Path, ".")
}

// Segment is a piece of the answer template: literal text, or a
// placeholder when Ref is set.
type Segment struct {
	Text string
	Ref  *Ref
}

// Node returns the validated step with the given id.
func (g *Graph) Node(id string) (*Node, bool) {
	n, ok := g.byID[id]
	return n, ok
}

// Calls lists every app.function the plan may call, sorted: the hub uses it
// to tell whether a later request was part of the plan.
func (g *Graph) Calls() []string {
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		for app, f := range n.Functions {
			seen[app+"."+f.Name] = true
		}
		if n.Kind == KindAgent {
			seen[n.Candidates[0]+".*"] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Validate checks a plan against the catalog and returns the graph to run.
func Validate(p *Plan, c *Catalog) (*Graph, error) {
	if len(p.Steps) > MaxSteps {
		return nil, invalid("%d steps, at most %d allowed", len(p.Steps), MaxSteps)
	}
	if len(p.Answer) > MaxTemplateLen {
		return nil, invalid("answer template of %d bytes, at most %d allowed", len(p.Answer), MaxTemplateLen)
	}
	g := &Graph{Plan: p, byID: make(map[string]*Node, len(p.Steps)), catalog: c}
	for i := range p.Steps {
		s := &p.Steps[i]
		if !stepIDPattern.MatchString(s.ID) {
			return nil, invalid("step %d: id %q must match %s", i+1, s.ID, stepIDPattern)
		}
		if _, dup := g.byID[s.ID]; dup {
			return nil, invalid("step id %q used twice", s.ID)
		}
		n := &Node{ID: s.ID, Kind: s.Kind(), Step: s}
		g.byID[s.ID] = n
		g.Nodes = append(g.Nodes, n)
	}
	// Operators first: a call "on" an operator needs the operator's
	// candidates, whatever order the steps come in.
	for _, n := range g.Nodes {
		if n.Kind == KindOp {
			if err := g.checkOp(n, c); err != nil {
				return nil, err
			}
		}
	}
	for _, n := range g.Nodes {
		var err error
		switch n.Kind {
		case KindCall:
			err = g.checkCall(n, c)
		case KindAgent:
			err = g.checkAgent(n, c)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := g.checkAcyclic(); err != nil {
		return nil, err
	}
	tpl, err := g.parseTemplate(p.Answer)
	if err != nil {
		return nil, err
	}
	g.Template = tpl
	return g, nil
}

func (g *Graph) checkOp(n *Node, c *Catalog) error {
	s := n.Step
	if s.Op != OpMin && s.Op != OpMax {
		return invalid("step %q: unknown operator %q (want %q or %q)", s.ID, s.Op, OpMin, OpMax)
	}
	if s.App != "" || s.On != "" || s.Function != "" || len(s.Args) > 0 || s.Agent != "" {
		return invalid("step %q: an operator step takes only op, of and field", s.ID)
	}
	if len(s.Of) < 2 {
		return invalid("step %q: %s needs at least two steps to choose from", s.ID, s.Op)
	}
	path, err := splitPath(s.Field)
	if err != nil || len(path) == 0 {
		return invalid("step %q: field %q is not a field path", s.ID, s.Field)
	}
	seen := map[string]bool{}
	for _, id := range s.Of {
		if seen[id] {
			return invalid("step %q: step %q listed twice", s.ID, id)
		}
		seen[id] = true
		m, ok := g.byID[id]
		if !ok {
			return invalid("step %q: chooses among unknown step %q", s.ID, id)
		}
		if m.Kind != KindCall || m.Step.App == "" {
			return invalid("step %q: can only choose among call steps on a named app; %q is not one", s.ID, id)
		}
		f, ok := c.Function(m.Step.App, m.Step.Function)
		if !ok {
			return invalid("step %q: unknown function %s.%s", id, m.Step.App, m.Step.Function)
		}
		fs, ok := schemaAt(f.Output, path)
		if !ok || !(fs.Is("number") || fs.Is("integer")) || len(fs.Types()) != 1 {
			return invalid("step %q: field %q of %s.%s is not a number", s.ID, s.Field, m.Step.App, f.Name)
		}
	}
	n.Deps = sortedUnique(s.Of)
	return nil
}

func (g *Graph) checkAgent(n *Node, c *Catalog) error {
	s := n.Step
	if s.On != "" || s.Function != "" || len(s.Args) > 0 || len(s.Of) > 0 || s.Field != "" {
		return invalid("step %q: an agent step takes only app and agent", s.ID)
	}
	if len(s.Agent) > MaxAgentTaskLen {
		return invalid("step %q: agent task of %d bytes, at most %d allowed", s.ID, len(s.Agent), MaxAgentTaskLen)
	}
	if _, ok := c.App(s.App); !ok {
		return invalid("step %q: unknown app %q", s.ID, s.App)
	}
	n.Candidates = []string{s.App}
	return nil
}

func (g *Graph) checkCall(n *Node, c *Catalog) error {
	s := n.Step
	if len(s.Of) > 0 || s.Field != "" {
		return invalid("step %q: of and field belong to operator steps", s.ID)
	}
	if (s.App == "") == (s.On == "") {
		return invalid("step %q: a call names exactly one of app or on", s.ID)
	}
	if s.Function == "" {
		return invalid("step %q: a call names a function", s.ID)
	}
	var deps []string
	if s.App != "" {
		if _, ok := c.App(s.App); !ok {
			return invalid("step %q: unknown app %q", s.ID, s.App)
		}
		n.Candidates = []string{s.App}
	} else {
		op, ok := g.byID[s.On]
		if !ok || op.Kind != KindOp {
			return invalid("step %q: on %q is not an operator step", s.ID, s.On)
		}
		for _, id := range op.Step.Of {
			n.Candidates = append(n.Candidates, g.byID[id].Step.App)
		}
		n.Candidates = sortedUnique(n.Candidates)
		deps = append(deps, s.On)
	}
	n.Functions = make(map[string]*specs.Function, len(n.Candidates))
	for _, app := range n.Candidates {
		f, ok := c.Function(app, s.Function)
		if !ok {
			return invalid("step %q: unknown function %s.%s", s.ID, app, s.Function)
		}
		n.Functions[app] = f
	}
	if len(s.Args) > maxArgs {
		return invalid("step %q: %d arguments, at most %d allowed", s.ID, len(s.Args), maxArgs)
	}
	n.Args = make(map[string]Arg, len(s.Args))
	for _, name := range slices.Sorted(maps.Keys(s.Args)) {
		a, err := g.checkArg(s, name, s.Args[name], n)
		if err != nil {
			return err
		}
		if a.Ref != nil {
			deps = append(deps, a.Ref.Step)
		}
		n.Args[name] = a
	}
	for _, app := range n.Candidates {
		f := n.Functions[app]
		for _, req := range f.Input.Required() {
			if _, ok := s.Args[req]; !ok {
				return invalid("step %q: %s.%s needs argument %q", s.ID, app, f.Name, req)
			}
		}
	}
	n.Deps = sortedUnique(deps)
	return nil
}

func (g *Graph) checkArg(s *Step, name string, raw json.RawMessage, n *Node) (Arg, error) {
	ref, isRef, err := parseRef(raw)
	if err != nil {
		return Arg{}, invalid("step %q: argument %q: %v", s.ID, name, err)
	}
	var val any
	if !isRef {
		val, err = schema.Decode(raw, MaxPlanBytes)
		if err != nil {
			return Arg{}, invalid("step %q: argument %q: %v", s.ID, name, err)
		}
	}
	for _, app := range n.Candidates {
		f := n.Functions[app]
		ps, ok := f.Input.Property(name)
		if !ok {
			return Arg{}, invalid("step %q: %s.%s has no parameter %q", s.ID, app, f.Name, name)
		}
		if !isRef {
			if err := ps.Validate(val); err != nil {
				return Arg{}, invalid("step %q: argument %q does not fit %s.%s: %v", s.ID, name, app, f.Name, err)
			}
			continue
		}
		if ref.Step == s.ID {
			return Arg{}, invalid("step %q: argument %q refers to its own step", s.ID, name)
		}
		outs, err := g.outputSchemas(ref)
		if err != nil {
			return Arg{}, invalid("step %q: argument %q: %v", s.ID, name, err)
		}
		for _, o := range outs {
			if !schema.Assignable(o, ps) {
				return Arg{}, invalid("step %q: argument %q: the type of %s does not fit parameter %q of %s.%s", s.ID, name, ref, name, app, f.Name)
			}
		}
	}
	if isRef {
		return Arg{Ref: &ref}, nil
	}
	return Arg{Value: val}, nil
}

// outputSchemas returns the schema of what a reference points at, one per
// app the referenced step may run on.
func (g *Graph) outputSchemas(r Ref) ([]*schema.Schema, error) {
	n, ok := g.byID[r.Step]
	if !ok {
		return nil, fmt.Errorf("reference to unknown step %q", r.Step)
	}
	var roots []*schema.Schema
	switch n.Kind {
	case KindOp:
		roots = []*schema.Schema{opOutput}
	case KindAgent:
		roots = []*schema.Schema{agentOutput}
	default:
		// A call's functions are resolved by checkCall; resolve them here
		// too, since the referenced call may come later in the plan.
		for _, app := range g.callCandidates(n) {
			f, ok := g.functionOf(n, app)
			if !ok {
				return nil, fmt.Errorf("reference to step %q, which calls an unknown function", r.Step)
			}
			roots = append(roots, f.Output)
		}
		if len(roots) == 0 {
			return nil, fmt.Errorf("reference to step %q, which runs on no app", r.Step)
		}
	}
	out := make([]*schema.Schema, 0, len(roots))
	for _, root := range roots {
		s, ok := schemaAt(root, r.Path)
		if !ok {
			return nil, fmt.Errorf("step %q has no field %q", r.Step, strings.Join(r.Path, "."))
		}
		out = append(out, s)
	}
	return out, nil
}

// callCandidates and functionOf look a call step's apps up without relying
// on checkCall having run for it yet.
func (g *Graph) callCandidates(n *Node) []string {
	if n.Step.App != "" {
		return []string{n.Step.App}
	}
	op, ok := g.byID[n.Step.On]
	if !ok || op.Kind != KindOp {
		return nil
	}
	var apps []string
	for _, id := range op.Step.Of {
		apps = append(apps, g.byID[id].Step.App)
	}
	return sortedUnique(apps)
}

func (g *Graph) functionOf(n *Node, app string) (*specs.Function, bool) {
	if f, ok := n.Functions[app]; ok {
		return f, true
	}
	if g.catalog == nil {
		return nil, false
	}
	return g.catalog.Function(app, n.Step.Function)
}

func (g *Graph) checkAcyclic() error {
	indeg := make(map[string]int, len(g.Nodes))
	users := make(map[string][]string)
	for _, n := range g.Nodes {
		indeg[n.ID] += 0
		for _, d := range n.Deps {
			if _, ok := g.byID[d]; !ok {
				return invalid("step %q depends on unknown step %q", n.ID, d)
			}
			indeg[n.ID]++
			users[d] = append(users[d], n.ID)
		}
	}
	var ready []string
	for _, n := range g.Nodes {
		if indeg[n.ID] == 0 {
			ready = append(ready, n.ID)
		}
	}
	done := 0
	for len(ready) > 0 {
		id := ready[0]
		ready = ready[1:]
		done++
		for _, u := range users[id] {
			indeg[u]--
			if indeg[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if done != len(g.Nodes) {
		var stuck []string
		for _, n := range g.Nodes {
			if indeg[n.ID] > 0 {
				stuck = append(stuck, n.ID)
			}
		}
		return invalid("steps %s form a cycle", strings.Join(stuck, ", "))
	}
	return nil
}

func (g *Graph) parseTemplate(t string) ([]Segment, error) {
	var out []Segment
	for len(t) > 0 {
		i := strings.Index(t, "{{")
		if i < 0 {
			out = append(out, Segment{Text: t})
			break
		}
		if i > 0 {
			out = append(out, Segment{Text: t[:i]})
		}
		j := strings.Index(t[i:], "}}")
		if j < 0 {
			return nil, invalid("answer template: unclosed {{")
		}
		inner := strings.TrimSpace(t[i+2 : i+j])
		parts, err := splitPath(inner)
		if err != nil || len(parts) == 0 {
			return nil, invalid("answer template: placeholder {{%s}} is not step or step.field", inner)
		}
		r := Ref{Step: parts[0], Path: parts[1:]}
		if _, err := g.outputSchemas(r); err != nil {
			return nil, invalid("answer template: placeholder {{%s}}: %v", inner, err)
		}
		out = append(out, Segment{Ref: &r})
		t = t[i+j+2:]
	}
	return out, nil
}

func sortedUnique(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	j := 0
	for i := range out {
		if i == 0 || out[i] != out[j-1] {
			out[j] = out[i]
			j++
		}
	}
	return out[:j]
}
