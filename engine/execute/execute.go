// Package execute runs a validated plan as a DAG: independent steps run
// concurrently, every call goes through an Invoker (the hub), every flow is
// checked by a Gate (the permission manager), every result is validated
// against its declared schema before anything else sees it, and operators
// choose among typed values without any LLM.
package execute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/actors/permission"
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
}

// InvokeResult is the raw, unvalidated output of an invocation.
type InvokeResult struct {
	Output json.RawMessage
	Usage  msg.Usage
	Tools  []msg.ToolTrace
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
	// was shown. A literal argument the planner took from Memory rather
	// than from Query is a flow of the user's earlier data to an app: it
	// gets a data prompt with origin OriginMemory.
	Query  string
	Memory []string
}

// OriginMemory is the origin of values the planner took from the user's
// earlier queries.
const OriginMemory = "memory"

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
	if err := awaitTurn(ctx); err != nil {
		return fail(out, msg.StatusFailed, "cancelled: "+err.Error()), nil, msg.Usage{}
	}
	allowed, reason, err := e.Gate.Check(ctx, msg.Prompt{Kind: msg.Exec, App: app, Task: n.Step.Agent, InPlan: true, Effect: "write"})
	passTurn(ctx)
	if o, stop := gateOutcome(out, allowed, reason, err); stop {
		return o, nil, msg.Usage{}
	}
	res, err := e.Invoker.Invoke(ctx, Invocation{StepID: n.ID, App: app, Task: n.Step.Agent})
	out.Tools = res.Tools
	if err != nil {
		return fail(out, msg.StatusFailed, err.Error()), nil, res.Usage
	}
	return e.accept(out, res, plan.AgentOutput())
}

func (e *Executor) runCall(ctx context.Context, n *plan.Node, states map[string]*state, out msg.StepOutcome) (msg.StepOutcome, any, msg.Usage) {
	for _, d := range n.Deps {
		if st := states[d]; st.outcome.Status != msg.StatusOK {
			return fail(out, msg.StatusSkipped, fmt.Sprintf("depends on step %s, which %s", d, pastTense(st.outcome.Status))), nil, msg.Usage{}
		}
	}
	app := out.App
	if n.Step.On != "" {
		chosen, _ := states[n.Step.On].value.(map[string]any)
		app, _ = chosen["app"].(string)
		out.App = app
	}
	f, ok := n.Functions[app]
	if !ok {
		return fail(out, msg.StatusFailed, fmt.Sprintf("operator chose app %q, which has no function %s", app, n.Step.Function)), nil, msg.Usage{}
	}
	args, flows, err := resolveArgs(n, states)
	if err != nil {
		return fail(out, msg.StatusFailed, err.Error()), nil, msg.Usage{}
	}
	for name, a := range n.Args {
		if a.Ref == nil && e.fromMemory(a.Value) {
			flows[name] = OriginMemory
		}
	}
	out.Args = mustJSON(args)
	if err := f.Input.Validate(args); err != nil {
		return fail(out, msg.StatusFailed, "arguments do not fit "+app+"."+f.Name+": "+err.Error()), nil, msg.Usage{}
	}
	if err := awaitTurn(ctx); err != nil {
		return fail(out, msg.StatusFailed, "cancelled: "+err.Error()), nil, msg.Usage{}
	}
	allowed, reason, err := e.Gate.Check(ctx, msg.Prompt{
		Kind: msg.Exec, App: app, Function: f.Name, Effect: f.Effect, InPlan: true,
		Data: describeArgs(args, flows, "user"),
	})
	if o, stop := gateOutcome(out, allowed, reason, err); stop {
		return o, nil, msg.Usage{}
	}
	for _, origin := range sortedOrigins(flows, app) {
		p := msg.Prompt{
			Kind: msg.Data, App: app, Function: f.Name, Effect: f.Effect, InPlan: true,
			Origin: origin, Data: describeFlow(args, flows, origin),
		}
		allowed, reason, err := e.Gate.Check(ctx, p)
		if err == nil && !allowed {
			// Say which flow was refused, in the hub's words: the answer
			// attributes the stop to the flow, not to the app.
			if reason == "" {
				reason = "denied"
			}
			reason = fmt.Sprintf("%s: %s, so %s did not run", reason, permission.Flow(p), p.Target())
		}
		if o, stop := gateOutcome(out, allowed, reason, err); stop {
			return o, nil, msg.Usage{}
		}
	}
	passTurn(ctx)
	res, err := e.Invoker.Invoke(ctx, Invocation{StepID: n.ID, App: app, Function: f.Name, Args: out.Args})
	if err != nil {
		return fail(out, msg.StatusFailed, err.Error()), nil, res.Usage
	}
	return e.accept(out, res, f.Output)
}

// accept validates a raw result against its schema. Nothing downstream sees
// a result that fails here (DESIGN.md P4).
func (e *Executor) accept(out msg.StepOutcome, res InvokeResult, sc *schema.Schema) (msg.StepOutcome, any, msg.Usage) {
	limit := e.MaxResultBytes
	if limit <= 0 {
		limit = DefaultMaxResultBytes
	}
	if len(res.Output) > limit {
		return fail(out, msg.StatusFailed, fmt.Sprintf("result of %d bytes exceeds the %d-byte cap", len(res.Output), limit)), nil, res.Usage
	}
	v, err := sc.DecodeValidate(res.Output, limit)
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

// resolveArgs fills references with earlier results. flows maps each
// argument filled from another step to the "app.function" it came from.
func resolveArgs(n *plan.Node, states map[string]*state) (map[string]any, map[string]string, error) {
	args := make(map[string]any, len(n.Args))
	flows := map[string]string{}
	for name, a := range n.Args {
		if a.Ref == nil {
			args[name] = a.Value
			continue
		}
		st := states[a.Ref.Step]
		v, ok := lookup(st.value, a.Ref.Path)
		if !ok {
			return nil, nil, fmt.Errorf("argument %q: %s has no value", name, a.Ref)
		}
		args[name] = v
		flows[name] = originOf(st, a.Ref)
	}
	return args, flows, nil
}

// originOf names the app and function a referenced value came from. An
// operator's "app" and "step" fields are the hub's own choice; its "value"
// came from the chosen app.
func originOf(st *state, r *plan.Ref) string {
	if st.outcome.Kind == string(plan.KindOp) {
		if len(r.Path) == 1 && r.Path[0] != "value" {
			return "hub"
		}
		return st.outcome.App + ".*"
	}
	if st.outcome.Function == "" {
		return st.outcome.App + ".*"
	}
	return st.outcome.App + "." + st.outcome.Function
}

// fromMemory reports whether a literal argument holds text that is in the
// hub memory the planner saw but not in the query: the planner carried it
// over from an earlier query.
func (e *Executor) fromMemory(v any) bool {
	if len(e.Memory) == 0 {
		return false
	}
	query := strings.ToLower(e.Query)
	var texts []string
	switch t := v.(type) {
	case string:
		texts = []string{t}
	case []any:
		for _, item := range t {
			if s, ok := item.(string); ok {
				texts = append(texts, s)
			}
		}
	}
	for _, s := range texts {
		s = strings.ToLower(strings.TrimSpace(s))
		// Short values ("no", "1") are everywhere; they say nothing of
		// where they came from.
		if len([]rune(s)) < 4 || strings.Contains(query, s) {
			continue
		}
		for _, m := range e.Memory {
			if strings.Contains(strings.ToLower(m), s) {
				return true
			}
		}
	}
	return false
}

// sortedOrigins lists the apps, other than the destination, that supply
// arguments: each is a data flow the user approves.
func sortedOrigins(flows map[string]string, dest string) []string {
	seen := map[string]bool{}
	for _, o := range flows {
		if o == "hub" || strings.HasPrefix(o, dest+".") {
			continue
		}
		seen[o] = true
	}
	out := make([]string, 0, len(seen))
	for o := range seen {
		out = append(out, o)
	}
	sort.Strings(out)
	return out
}

func describeArgs(args map[string]any, flows map[string]string, literalOrigin string) []msg.DataItem {
	names := make([]string, 0, len(args))
	for k := range args {
		names = append(names, k)
	}
	sort.Strings(names)
	items := make([]msg.DataItem, 0, len(names))
	for _, k := range names {
		origin := literalOrigin
		if o, ok := flows[k]; ok {
			origin = o
		}
		// An object (a file to attach) is shown field by field, so that
		// its name is never cut off behind its content.
		if obj, ok := args[k].(map[string]any); ok && len(obj) > 0 {
			for _, f := range slices.Sorted(maps.Keys(obj)) {
				items = append(items, msg.DataItem{Name: k + "." + f, Value: PromptValue(obj[f]), Origin: origin})
			}
			continue
		}
		items = append(items, msg.DataItem{Name: k, Value: PromptValue(args[k]), Origin: origin})
	}
	return items
}

func describeFlow(args map[string]any, flows map[string]string, origin string) []msg.DataItem {
	var items []msg.DataItem
	for _, it := range describeArgs(args, flows, "user") {
		if it.Origin == origin {
			items = append(items, it)
		}
	}
	return items
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
