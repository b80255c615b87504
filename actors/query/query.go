// Package query is the query actor: one per user query, a child of the hub.
// It plans with the hub's planner, runs the plan with the executor — every
// call through the hub, every flow past the permission manager — renders
// the answer, records the hub's memory and the audit trail, and reports to
// the hub. It talks to both as itself, so the hub can tell it from a spoke.
package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/actors/rpc"
	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/execute"
	"github.com/isolategpt/isolategpt/engine/llm"
	"github.com/isolategpt/isolategpt/engine/llm/offline"
	"github.com/isolategpt/isolategpt/engine/planner"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/engine/untrusted"
)

// DefaultMemoryTurns is how many earlier turns the planner is shown.
const DefaultMemoryTurns = 5

// maxAppError caps how much of an app's error text an answer quotes.
const maxAppError = 300

// Deps are what a query actor needs.
type Deps struct {
	Hub, Permission *actor.PID
	Planner         *planner.Planner
	Store           *store.Store
	ModelInfo       llm.Info
	User, SessionID string
	QueryID, Query  string
	Timeout         time.Duration
	MemoryTurns     int
	// Memory caches the store's recent turns per user (nil: the store).
	Memory *Memory
	Audit  func(store.AuditRecord)
	Logger *slog.Logger
	// Defences is which defences are on (all, outside the evaluation).
	Defences defence.Set
}

// Props returns a query actor's props.
func Props(d Deps) *actor.Props {
	if d.MemoryTurns <= 0 {
		d.MemoryTurns = DefaultMemoryTurns
	}
	return actor.PropsFromProducer(func() actor.Actor { return &queryActor{d: d} })
}

type queryActor struct {
	d      Deps
	client *rpc.Client
	cancel context.CancelFunc
	sub    *eventstream.Subscription
	perms  *permLog
	writes *intents
	// faults are the audit failures met while the query ran (intent.go).
	faults auditFaults
}

type crashed struct{ reason any }

type permLog struct {
	mu     sync.Mutex
	events []msg.PermissionEvent
}

func (p *permLog) add(e msg.PermissionEvent) {
	p.mu.Lock()
	p.events = append(p.events, e)
	p.mu.Unlock()
}

func (p *permLog) list() []msg.PermissionEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]msg.PermissionEvent{}, p.events...)
}

func (q *queryActor) Receive(ctx actor.Context) {
	if q.client != nil && q.client.Handle(ctx) {
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		q.client = rpc.NewClient(ctx.ActorSystem(), ctx.Self())
		q.perms = &permLog{}
		q.writes = &intents{open: map[string]uint64{}}
		// Every permission decision for this query, whoever asked for it
		// (this actor for steps, the hub for ISC), is part of its answer.
		qid := q.d.QueryID
		// Filter inside the handler: protoactor's SubscribeWithPredicate
		// sets the predicate after the subscription is already visible to
		// Publish, which races.
		q.sub = ctx.ActorSystem().EventStream.Subscribe(func(ev any) {
			if e, ok := ev.(*msg.PermissionDecided); ok && e.QueryID == qid {
				q.perms.add(msg.PermissionEvent{Prompt: e.Prompt, Decision: e.Decision, Asked: e.Asked, Reason: e.Reason, Bounded: e.Bounded})
			}
		})
		runCtx, cancel := context.WithTimeout(context.Background(), q.timeout())
		q.cancel = cancel
		system, self := ctx.ActorSystem(), ctx.Self()
		go func() {
			defer func() {
				if v := recover(); v != nil {
					system.Root.Send(self, &crashed{reason: v})
				}
			}()
			reply := q.run(runCtx, system)
			q.client.Tell(q.d.Hub, &msg.QueryFinished{QueryID: q.d.QueryID, Reply: reply})
		}()
	case *actor.Stopping:
		q.cancel()
		q.client.Close()
		ctx.ActorSystem().EventStream.Unsubscribe(q.sub)
	case *crashed:
		panic(m.reason)
	}
}

func (q *queryActor) timeout() time.Duration {
	if q.d.Timeout > 0 {
		return q.d.Timeout
	}
	return 10 * time.Minute
}

func (q *queryActor) audit(kind, app, function, outcome string, detail any) {
	if q.d.Audit == nil {
		return
	}
	var raw json.RawMessage
	if detail != nil {
		raw, _ = json.Marshal(detail)
	}
	q.d.Audit(store.AuditRecord{User: q.d.User, Session: q.d.SessionID, QueryID: q.d.QueryID, Kind: kind, App: app, Function: function, Outcome: outcome, Detail: raw})
}

func (q *queryActor) run(ctx context.Context, system *actor.ActorSystem) *msg.AskReply {
	start := time.Now()
	// Every record queued from here on is this query's or came before
	// its answer: all must be committed before the answer goes out.
	since := q.d.Store.AuditTicket()
	q.audit("query", "", "", "received", map[string]string{"query": q.d.Query})
	ans := &msg.Answer{QueryID: q.d.QueryID, Model: q.d.ModelInfo.String(), Offline: q.d.ModelInfo.Offline}
	finish := func(text string, err error) *msg.AskReply {
		if ans.Offline {
			text = strings.TrimSpace(text) + "\n\n(" + offline.Label + ")"
		}
		ans.Text = text
		ans.Permissions = q.perms.list()
		ans.Duration = time.Since(start)
		// The hub's memory of this turn is written while the audit trail
		// is flushed (two store commits at once, not one after the
		// other); both are done before the answer goes out, so the user's
		// next query sees this turn.
		remembered := make(chan struct{})
		go func() {
			defer close(remembered)
			q.remember(ans)
		}()
		defer func() { <-remembered }()
		ans.Status = msg.OutcomeOf(ans, err)
		r := &msg.AskReply{QueryID: q.d.QueryID, Answer: ans}
		if err != nil {
			r.Err = err.Error()
		}
		// Fail closed: an answer whose audit trail is not all on disk —
		// a write step's outcome that could not close its intent, or a
		// record the group commit could not write — is not given, and no
		// status claims the work done (faults.go). The answer record says
		// what was given.
		withhold := func(ferr error) {
			if q.d.Logger != nil {
				q.d.Logger.Error("audit query", "query_id", q.d.QueryID, "err", ferr)
			}
			ans.Text = "The audit log could not record this query, so its answer is withheld: " + ferr.Error()
			ans.Status = q.faults.status()
			r.Cause = fmt.Errorf("audit log: %w", ferr)
			r.Err = r.Cause.Error()
		}
		if ferr := q.faults.failure(nil); ferr != nil {
			withhold(ferr)
		}
		outcome := "answered"
		if r.Err != "" {
			outcome = "failed"
		}
		q.audit("answer", "", "", outcome, map[string]any{"answer": ans.Text, "error": r.Err, "status": ans.Status, "llm": ans.Usage, "duration_ms": ans.Duration.Milliseconds()})
		if r.Cause == nil {
			if ferr := q.faults.failure(q.d.Store.FlushAudit(since)); ferr != nil {
				withhold(ferr)
			}
		} else {
			_ = q.d.Store.FlushAudit(since)
		}
		ans.Store = q.faults.store()
		return r
	}
	if strings.TrimSpace(q.d.Query) == "" {
		return finish("", errors.New("empty query"))
	}
	memory, err := q.memory()
	if err != nil {
		return finish("", err)
	}
	usage := &llm.Usage{}
	res, err := q.d.Planner.Plan(llm.WithUsage(ctx, usage), q.d.Query, memory)
	u := usage.Snapshot()
	ans.Usage = msg.Usage{Calls: u.Calls, PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens}
	if err != nil {
		detail := map[string]any{"error": err.Error()}
		if res != nil {
			detail["attempts"], detail["rejections"] = res.Attempts, res.Rejections
		}
		q.audit("plan", "", "", "rejected", detail)
		return finish("I could not make a plan for this query: "+err.Error(), err)
	}
	ans.Plan = res.Graph.Plan.JSON()
	q.audit("plan", "", "", "accepted", map[string]any{"plan": ans.Plan, "attempts": res.Attempts, "rejections": res.Rejections})
	q.client.Tell(q.d.Hub, &msg.PlanAccepted{QueryID: q.d.QueryID, Calls: res.Graph.Calls()})

	ex := &execute.Executor{
		Invoker: &invoker{q: q},
		Gate:    &gate{q: q},
		// A value the planner carried over from an earlier query is a
		// flow of the user's earlier data, asked about as one.
		Query:    q.d.Query,
		Memory:   memory,
		Defences: q.d.Defences,
		// Only the evaluation's ablation switches a defence off; the
		// model then stands in for what the defence replaced.
		Model: q.d.Planner.Model,
		OnStep: func(o msg.StepOutcome) {
			if intent := q.writes.take(o.Step); intent != 0 {
				q.auditOutcome(intent, o)
			} else {
				q.audit("step", o.App, o.Function, o.Status, o)
			}
			system.EventStream.Publish(&msg.StepFinished{QueryID: q.d.QueryID, Outcome: o})
		},
	}
	rep := ex.Run(ctx, res.Graph)
	ans.Steps = rep.Steps
	ans.Usage = ans.Usage.Add(rep.Usage)
	return finish(ex.Answer(ctx, q.d.Query, res.Graph, rep)+bounded(q.perms.list()), nil)
}

// bounded says, in the hub's words, which apps used up their prompts for
// this query, so that the user knows their further requests were denied
// without asking.
func bounded(events []msg.PermissionEvent) string {
	var apps []string
	for _, e := range events {
		if e.Bounded && !slices.Contains(apps, e.Prompt.ChosenBy) {
			apps = append(apps, e.Prompt.ChosenBy)
		}
	}
	if len(apps) == 0 {
		return ""
	}
	return fmt.Sprintf("\n\n⟨The hub stopped asking you about requests from %s in this query: each had raised as many prompts as one app may, and its further requests were denied without asking.⟩", strings.Join(apps, ", "))
}

// memory is what the planner is shown of earlier turns: the user's own
// queries and the hub's own facts about them, never an app's output.
func (q *queryActor) memory() ([]string, error) {
	turns, err := q.d.Memory.Recent(q.d.Store, q.d.User, q.d.MemoryTurns)
	if err != nil {
		return nil, fmt.Errorf("read hub memory: %w", err)
	}
	out := make([]string, 0, len(turns))
	for _, t := range turns {
		line := "earlier query: " + t.Query
		if len(t.Facts) > 0 {
			line += " — " + strings.Join(t.Facts, "; ")
		}
		out = append(out, line)
	}
	return out, nil
}

func (q *queryActor) remember(a *msg.Answer) {
	var facts []string
	for _, s := range a.Steps {
		who := s.App
		if s.Function != "" {
			who += "." + s.Function
		}
		if s.Kind == "op" {
			who = "hub " + s.Step
		}
		fact := who + " " + s.Status
		if !q.d.Defences.On(defence.MemoryIsolation) && len(s.Result) > 0 {
			fact += " → " + execute.Preview(s.Result)
		}
		facts = append(facts, fact)
	}
	err := q.d.Memory.Append(q.d.Store, q.d.User, store.Turn{At: time.Now().UTC(), QueryID: q.d.QueryID, Query: q.d.Query, Facts: facts})
	if err != nil && q.d.Logger != nil {
		q.d.Logger.Error("record hub memory", "query_id", q.d.QueryID, "err", err)
	}
}

// invoker sends steps to the hub as this actor.
type invoker struct{ q *queryActor }

func (i *invoker) Invoke(ctx context.Context, inv execute.Invocation) (execute.InvokeResult, error) {
	// A write step runs only once its start is on disk (intent.go).
	if err := i.q.announceWrite(inv); err != nil {
		return execute.InvokeResult{}, err
	}
	r, err := i.q.client.Call(ctx, i.q.d.Hub, &msg.InvokeRequest{
		QueryID: i.q.d.QueryID, SessionID: i.q.d.SessionID, StepID: inv.StepID,
		App: inv.App, Function: inv.Function, Args: inv.Args, Task: inv.Task, Labels: inv.Labels,
	})
	if err != nil {
		return execute.InvokeResult{}, err
	}
	rep, ok := r.(*msg.InvokeReply)
	if !ok {
		return execute.InvokeResult{}, fmt.Errorf("hub answered with %T", r)
	}
	res := execute.InvokeResult{Output: rep.Result, Usage: rep.Usage, Tools: rep.Tools, Labels: rep.Labels}
	switch {
	case rep.Err != "" && rep.AppErr:
		// The app's own words: quoted, never trusted.
		return res, fmt.Errorf("%w: %s reported %s", execute.ErrAppFailed, inv.App, untrusted.Quote(rep.Err, maxAppError))
	case rep.Err != "":
		return res, errors.New(rep.Err)
	}
	return res, nil
}

// gate asks the permission manager as this actor.
type gate struct{ q *queryActor }

func (g *gate) Check(ctx context.Context, p msg.Prompt) (bool, string, error) {
	r, err := g.q.client.Call(ctx, g.q.d.Permission, &msg.PermissionRequest{QueryID: g.q.d.QueryID, SessionID: g.q.d.SessionID, Prompt: p})
	if err != nil {
		return false, "", err
	}
	rep, ok := r.(*msg.PermissionReply)
	if !ok {
		return false, "", fmt.Errorf("permission manager answered with %T", r)
	}
	return rep.Allowed, rep.Reason, nil
}
