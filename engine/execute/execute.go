// Package execute runs a validated plan as a DAG: independent steps run
// concurrently, every call goes through an Invoker (the hub), every flow is
// checked by a Gate (the permission manager), every result is validated
// against its declared schema before anything else sees it, and operators
// choose among typed values without any LLM.
//
// Every value the executor handles carries a provenance label set
// (engine/label), assigned where it enters and propagated by every step
// (labels.go): a literal by where it provably came from, a result by its
// app and everything the app was given, an operator's result by every step
// it compared. Prompts carry the labels; the permission manager words its
// warnings from them.
package execute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/actors/permission"
	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/label"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/specs/schema"
)

// DefaultMaxResultBytes caps one app result.
const DefaultMaxResultBytes = 256 << 10

// Invocation is one call the executor asks the hub to make.
type Invocation struct {
	StepID   string
	App      string
	Function string // empty for an agent step
	Args     json.RawMessage
	Task     string // agent steps only
	// Labels are where the arguments or the task came from.
	Labels label.Set
}

// InvokeResult is the raw, unvalidated output of an invocation.
type InvokeResult struct {
	Output json.RawMessage
	Usage  msg.Usage
	Tools  []msg.ToolTrace
	// Labels are what the output carries besides its app's own label
	// (what the hub released to the app's assistant, its memory).
	Labels label.Set
}

// Invoker runs invocations on apps (through the hub and the app's spoke).
type Invoker interface {
	Invoke(ctx context.Context, inv Invocation) (InvokeResult, error)
}

// Gate asks whether a flow may happen.
type Gate interface {
	Check(ctx context.Context, p msg.Prompt) (allowed bool, reason string, err error)
}

// ErrAppFailed marks an error text written by the app itself.
var ErrAppFailed = errors.New("app error")

// Executor runs plans.
type Executor struct {
	Invoker Invoker
	Gate    Gate
	// MaxResultBytes caps one result; zero means DefaultMaxResultBytes.
	MaxResultBytes int
	// OnStep, if set, is called as each step finishes.
	OnStep func(msg.StepOutcome)
	// Query and Memory are the user's query and the hub memory the planner
	// was shown: a literal is the user's only when it occurs in Query;
	// any other literal is the planner's and, when Memory is not empty,
	// may carry the user's earlier queries (label.Literal).
	Query  string
	Memory []string
	// Defences is which defences are on (all, outside the evaluation).
	// Model stands in, in the evaluation's ablation only, for what a
	// switched-off defence replaced: the LLM that chooses across apps
	// (defence.HubChoice).
	Defences defence.Set
	Model    llms.Model
}

// OriginMemory is the origin of a data prompt about values that may carry
// the user's earlier queries.
const OriginMemory = string(label.Memory)

// Report is the outcome of a run.
type Report struct {
	Steps []msg.StepOutcome // in plan order
	Usage msg.Usage
	// values holds the validated, decoded result of each step that succeeded.
	values map[string]any
}

// Value returns a successful step's decoded result.
func (r *Report) Value(step string) (any, bool) {
	v, ok := r.values[step]
	return v, ok
}

type state struct {
	done    chan struct{}
	outcome msg.StepOutcome
	value   any
	usage   msg.Usage
}

// labels is where the step's result came from (set whether or not the
// step succeeded: an operator also learns from a failure).
func (st *state) labels() label.Set { return st.outcome.Labels }

// Run executes every step of g and returns when all have finished.
func (e *Executor) Run(ctx context.Context, g *plan.Graph) *Report {
	states := make(map[string]*state, len(g.Nodes))
	for _, n := range g.Nodes {
		states[n.ID] = &state{done: make(chan struct{})}
	}
	var wg sync.WaitGroup
	order := newTurns(len(g.Nodes))
	for i, n := range g.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := states[n.ID]
			defer close(st.done)
			ctx := withTurn(ctx, order, i)
			defer passTurn(ctx)
			start := time.Now()
			st.outcome, st.value, st.usage = e.runNode(ctx, g, n, states)
			st.outcome.Duration = time.Since(start)
			if e.OnStep != nil {
				e.OnStep(st.outcome)
			}
		}()
	}
	wg.Wait()
	r := &Report{values: map[string]any{}}
	for _, n := range g.Nodes {
		st := states[n.ID]
		r.Steps = append(r.Steps, st.outcome)
		r.Usage = r.Usage.Add(st.usage)
		if st.outcome.Status == msg.StatusOK {
			r.values[n.ID] = st.value
		}
	}
	return r
}

func (e *Executor) runNode(ctx context.Context, g *plan.Graph, n *plan.Node, states map[string]*state) (msg.StepOutcome, any, msg.Usage) {
	out := msg.StepOutcome{Step: n.ID, Kind: string(n.Kind)}
	if len(n.Candidates) == 1 {
		out.App = n.Candidates[0]
	}
	if n.Kind == plan.KindCall {
		out.Function = n.Step.Function
	}
	for _, d := range n.Deps {
		select {
		case <-states[d].done:
			continue
		default:
		}
		passTurn(ctx) // waiting: later steps may ask meanwhile
		select {
		case <-states[d].done:
		case <-ctx.Done():
			return fail(out, msg.StatusFailed, "cancelled: "+ctx.Err().Error()), nil, msg.Usage{}
		}
	}
	switch n.Kind {
	case plan.KindOp:
		if !e.Defences.On(defence.HubChoice) {
			o, v := e.llmChoice(ctx, n, states, out)
			return o, v, msg.Usage{}
		}
		o, v := e.runOp(n, states, out)
		return o, v, msg.Usage{}
	case plan.KindAgent:
		return e.runAgent(ctx, n, out)
	default:
		return e.runCall(ctx, n, states, out)
	}
}

func fail(out msg.StepOutcome, status, reason string) msg.StepOutcome {
	out.Status = status
	out.Reason = reason
	return out
}

func (e *Executor) runOp(n *plan.Node, states map[string]*state, out msg.StepOutcome) (msg.StepOutcome, any) {
	path := strings.Split(n.Step.Field, ".")
	var (
		best     float64
		bestStep string
		bestApp  string
		bestRaw  json.Number
		excluded []string
	)
	// Which app wins depends on every value compared, and on which steps
	// failed: the result carries the labels of all of them.
	if e.Defences.On(defence.OperatorLabels) {
		for _, id := range n.Step.Of {
			out.Labels = out.Labels.Union(states[id].labels())
		}
	}
	for _, id := range n.Step.Of {
		st := states[id]
		if st.outcome.Status != msg.StatusOK {
			excluded = append(excluded, fmt.Sprintf("%s (%s %s)", id, st.outcome.App, st.outcome.Status))
			continue
		}
		v, ok := lookup(st.value, path)
		num, isNum := v.(json.Number)
		if !ok || !isNum {
			excluded = append(excluded, fmt.Sprintf("%s (no number at %s)", id, n.Step.Field))
			continue
		}
		f, err := num.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			excluded = append(excluded, fmt.Sprintf("%s (%s is not a finite number)", id, n.Step.Field))
			continue
		}
		// Ties keep the earlier step, so the choice is deterministic.
		if bestStep == "" || (n.Step.Op == plan.OpMin && f < best) || (n.Step.Op == plan.OpMax && f > best) {
			best, bestStep, bestApp, bestRaw = f, id, st.outcome.App, num
		}
	}
	if bestStep == "" {
		return fail(out, msg.StatusFailed, "nothing to choose from: "+strings.Join(excluded, ", ")), nil
	}
	value := map[string]any{"app": bestApp, "step": bestStep, "value": bestRaw}
	out.App = bestApp
	out.Result = mustJSON(value)
	out.Status = msg.StatusOK
	out.Reason = fmt.Sprintf("hub chose %s (%s %s = %s)", bestStep, n.Step.Op, n.Step.Field, bestRaw)
	if len(excluded) > 0 {
		out.Reason += "; not considered: " + strings.Join(excluded, ", ")
	}
	return out, value
}

func (e *Executor) runAgent(ctx context.Context, n *plan.Node, out msg.StepOutcome) (msg.StepOutcome, any, msg.Usage) {
	app := n.Candidates[0]
	task := n.Step.Agent
	taskLabels := e.literal(task)
	out.Labels = label.Of(label.Output(app, "", n.ID)).Union(taskLabels)
	if err := awaitTurn(ctx); err != nil {
		return fail(out, msg.StatusFailed, "cancelled: "+err.Error()), nil, msg.Usage{}
	}
	allowed, reason, err := e.Gate.Check(ctx, msg.Prompt{
		Kind: msg.Exec, App: app, Task: task, TaskLabels: taskLabels, InPlan: true, Step: n.ID, Effect: "write",
	})
	passTurn(ctx)
	if o, stop := gateOutcome(out, allowed, reason, err); stop {
		return o, nil, msg.Usage{}
	}
	if taskLabels.Has(label.Memory) {
		p := msg.Prompt{
			Kind: msg.Data, App: app, InPlan: true, Step: n.ID, Effect: "write", Origin: OriginMemory,
			Data: []msg.DataItem{item("task", task, taskLabels)},
		}
		if o, stop := e.checkFlow(ctx, out, p); stop {
			return o, nil, msg.Usage{}
		}
	}
	res, err := e.Invoker.Invoke(ctx, Invocation{StepID: n.ID, App: app, Task: task, Labels: taskLabels})
	out.Tools = res.Tools
	out.Labels = out.Labels.Union(res.Labels)
	if err != nil {
		return fail(out, msg.StatusFailed, err.Error()), nil, res.Usage
	}
	return e.accept(out, res, plan.AgentOutput())
}

func (e *Executor) runCall(ctx context.Context, n *plan.Node, states map[string]*state, out msg.StepOutcome) (msg.StepOutcome, any, msg.Usage) {
	for _, d := range n.Deps {
		if st := states[d]; st.outcome.Status != msg.StatusOK {
			// Whether it runs depends on its dependencies' outcomes.
			for _, dd := range n.Deps {
				out.Labels = out.Labels.Union(states[dd].labels())
			}
			return fail(out, msg.StatusSkipped, fmt.Sprintf("depends on step %s, which %s", d, pastTense(st.outcome.Status))), nil, msg.Usage{}
		}
	}
	app := out.App
	// A call on an operator's choice: which app runs depends on every
	// value the operator compared.
	var chosen label.Set
	if n.Step.On != "" {
		op := states[n.Step.On]
		choice, _ := op.value.(map[string]any)
		app, _ = choice["app"].(string)
		out.App = app
		chosen = op.labels()
	}
	f, ok := n.Functions[app]
	if !ok {
		return fail(out, msg.StatusFailed, fmt.Sprintf("operator chose app %q, which has no function %s", app, n.Step.Function)), nil, msg.Usage{}
	}
	args, argLabels, err := e.resolveArgs(n, states)
	out.Labels = label.Of(label.Output(app, f.Name, n.ID)).Union(chosen)
	for _, ls := range argLabels {
		out.Labels = out.Labels.Union(ls)
	}
	if err != nil {
		return fail(out, msg.StatusFailed, err.Error()), nil, msg.Usage{}
	}
	out.Args = mustJSON(args)
	if err := f.Input.Validate(args); err != nil {
		return fail(out, msg.StatusFailed, "arguments do not fit "+app+"."+f.Name+": "+err.Error()), nil, msg.Usage{}
	}
	items := describeArgs(args, argLabels)
	if err := awaitTurn(ctx); err != nil {
		return fail(out, msg.StatusFailed, "cancelled: "+err.Error()), nil, msg.Usage{}
	}
	allowed, reason, err := e.Gate.Check(ctx, msg.Prompt{
		Kind: msg.Exec, App: app, Function: f.Name, Effect: f.Effect, InPlan: true, Step: n.ID,
		Data: items, Chosen: chosen,
	})
	if o, stop := gateOutcome(out, allowed, reason, err); stop {
		return o, nil, msg.Usage{}
	}
	for _, origin := range flowSources(newTo(app, n, states, argLabels), app) {
		p := msg.Prompt{
			Kind: msg.Data, App: app, Function: f.Name, Effect: f.Effect, InPlan: true, Step: n.ID,
			Origin: origin, Data: carrying(items, origin),
		}
		if o, stop := e.checkFlow(ctx, out, p); stop {
			return o, nil, msg.Usage{}
		}
	}
	var given label.Set
	for _, ls := range argLabels {
		given = given.Union(ls)
	}
	passTurn(ctx)
	res, err := e.Invoker.Invoke(ctx, Invocation{StepID: n.ID, App: app, Function: f.Name, Args: out.Args, Labels: given})
	out.Labels = out.Labels.Union(res.Labels)
	if err != nil {
		return fail(out, msg.StatusFailed, err.Error()), nil, res.Usage
	}
	if !e.Defences.On(defence.DirectCalls) {
		res = e.readByAgent(ctx, n.ID, app, f.Name, res)
	}
	return e.accept(out, res, f.Output)
}

// checkFlow asks a data prompt and, when it is refused, says which flow
// was refused, in the hub's words: the answer attributes the stop to the
// flow, not to the app.
func (e *Executor) checkFlow(ctx context.Context, out msg.StepOutcome, p msg.Prompt) (msg.StepOutcome, bool) {
	allowed, reason, err := e.Gate.Check(ctx, p)
	if err == nil && !allowed {
		if reason == "" {
			reason = "denied"
		}
		reason = fmt.Sprintf("%s: %s, so %s did not run", reason, permission.Flow(p), p.Target())
	}
	return gateOutcome(out, allowed, reason, err)
}

// accept validates a raw result against its schema. Nothing downstream sees
// a result that fails here (DESIGN.md P4).
func (e *Executor) accept(out msg.StepOutcome, res InvokeResult, sc *schema.Schema) (msg.StepOutcome, any, msg.Usage) {
	limit := e.MaxResultBytes
	if limit <= 0 {
		limit = DefaultMaxResultBytes
	}
	if !e.Defences.On(defence.OutputCap) {
		limit = math.MaxInt32
	}
	if len(res.Output) > limit {
		return fail(out, msg.StatusFailed, fmt.Sprintf("result of %d bytes exceeds the %d-byte cap", len(res.Output), limit)), nil, res.Usage
	}
	decode := sc.DecodeValidate
	if !e.Defences.On(defence.OutputSchema) {
		decode = anyJSON
	}
	v, err := decode(res.Output, limit)
	if err != nil {
		return fail(out, msg.StatusFailed, "result does not fit the declared output schema: "+err.Error()), nil, res.Usage
	}
	out.Result = mustJSON(v)
	out.Status = msg.StatusOK
	return out, v, res.Usage
}

func gateOutcome(out msg.StepOutcome, allowed bool, reason string, err error) (msg.StepOutcome, bool) {
	if err != nil {
		return fail(out, msg.StatusDenied, "permission check failed: "+err.Error()), true
	}
	if !allowed {
		if reason == "" {
			reason = "denied"
		}
		return fail(out, msg.StatusDenied, reason), true
	}
	return out, false
}

// resolveArgs fills references with earlier results and labels every
// argument: a literal by where it provably came from, a reference by the
// labels of the step it points into.
func (e *Executor) resolveArgs(n *plan.Node, states map[string]*state) (map[string]any, map[string]label.Set, error) {
	args := make(map[string]any, len(n.Args))
	labels := make(map[string]label.Set, len(n.Args))
	for name, a := range n.Args {
		if a.Ref == nil {
			args[name] = a.Value
			labels[name] = e.literal(a.Value)
			continue
		}
		st := states[a.Ref.Step]
		labels[name] = st.labels()
		v, ok := lookup(st.value, a.Ref.Path)
		if !ok {
			return nil, labels, fmt.Errorf("argument %q: %s has no value", name, a.Ref)
		}
		args[name] = v
	}
	return args, labels, nil
}

// newTo keeps the labels of the arguments that may bring app something
// new: an argument that is app's own output (a call or agent step that ran
// on app) carries only what app already had — its own data and what it
// was given, each asked about when it was given — so it is no new flow.
func newTo(app string, n *plan.Node, states map[string]*state, argLabels map[string]label.Set) map[string]label.Set {
	out := make(map[string]label.Set, len(argLabels))
	for name, ls := range argLabels {
		if a := n.Args[name]; a.Ref != nil {
			if o := states[a.Ref.Step].outcome; o.Kind != string(plan.KindOp) && o.App == app {
				continue
			}
		}
		out[name] = ls
	}
	return out
}

// literal labels a value the planner wrote (label.Literal). With the
// literal_provenance defence off, as before labels: every literal is the
// user's.
func (e *Executor) literal(v any) label.Set {
	if !e.Defences.On(defence.LiteralProvenance) {
		return label.Of(label.Label{Kind: label.Query})
	}
	return label.Literal(v, e.Query, len(e.Memory) > 0)
}

func pastTense(status string) string {
	switch status {
	case msg.StatusDenied:
		return "was denied"
	case msg.StatusSkipped:
		return "was skipped"
	default:
		return status
	}
}

// lookup follows a validated path into a decoded value: field names into
// objects, indexes into arrays. An index past the end is a missing value.
func lookup(v any, path []string) (any, bool) {
	for _, p := range path {
		if i, isIndex := plan.Index(p); isIndex {
			items, ok := v.([]any)
			if !ok || i >= len(items) {
				return nil, false
			}
			v = items[i]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		v, ok = m[p]
		if !ok {
			return nil, false
		}
	}
	return v, v != nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("execute: marshal: %v", err))
	}
	return b
}
