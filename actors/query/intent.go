package query

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/execute"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/specs"
)

// Intent before effect: a step that may change something outside the hub
// (a function whose manifest declares effect "write", or an agent step,
// whose tools may) is recorded as started, synced to disk, before the hub
// is asked to run it, and its outcome closes that record. If the process
// dies in between, the next open of the store records the step as
// interrupted, outcome unknown, and nothing runs it again by itself. A step
// whose start cannot be recorded does not run (fail closed).

// intents are the open intents of a query's steps, by step id.
type intents struct {
	mu   sync.Mutex
	open map[string]uint64
}

func (w *intents) put(step string, seq uint64) {
	w.mu.Lock()
	w.open[step] = seq
	w.mu.Unlock()
}

// take returns and forgets the intent of step, 0 when it had none.
func (w *intents) take(step string) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	seq := w.open[step]
	delete(w.open, step)
	return seq
}

// isWrite reports whether a step may have side effects. A function the
// catalog does not know counts as one: the hub will refuse it anyway, and
// guessing "read" would skip the record.
func (q *queryActor) isWrite(app, function string) bool {
	if function == "" {
		return true
	}
	if q.d.Planner == nil || q.d.Planner.Catalog == nil {
		return true
	}
	f, ok := q.d.Planner.Catalog.Function(app, function)
	return !ok || f.Effect != specs.EffectRead
}

// announceWrite records a write step as started before it runs.
func (q *queryActor) announceWrite(inv execute.Invocation) error {
	if !q.isWrite(inv.App, inv.Function) {
		return nil
	}
	detail, err := json.Marshal(map[string]any{"step": inv.StepID, "args": inv.Args, "task": inv.Task})
	if err != nil {
		return fmt.Errorf("record start of step %s: %w", inv.StepID, err)
	}
	rec, err := q.d.Store.AuditIntent(store.AuditRecord{
		User: q.d.User, Session: q.d.SessionID, QueryID: q.d.QueryID, Kind: "step",
		App: inv.App, Function: inv.Function, Detail: detail,
	})
	if err != nil {
		q.faults.note(err)
		return fmt.Errorf("step %s not run: its start could not be recorded in the audit log: %w", inv.StepID, err)
	}
	q.faults.started()
	q.writes.put(inv.StepID, rec.Seq)
	return nil
}

// auditOutcome records a write step's outcome and closes its intent.
func (q *queryActor) auditOutcome(intent uint64, o msg.StepOutcome) {
	detail, _ := json.Marshal(o)
	_, err := q.d.Store.AuditOutcome(intent, store.AuditRecord{
		User: q.d.User, Session: q.d.SessionID, QueryID: q.d.QueryID, Kind: "step",
		App: o.App, Function: o.Function, Outcome: o.Status, Detail: detail,
	})
	if err == nil {
		return
	}
	// The intent stays open: the next open records the step as
	// interrupted, which is the truth as far as the log can tell — and
	// so must the query's status (faults.go).
	q.faults.outcomeFailed(fmt.Errorf("step %s: its outcome could not be recorded: %w", o.Step, err))
	if q.d.Logger != nil {
		q.d.Logger.Error("audit step outcome", "query_id", q.d.QueryID, "step", o.Step, "intent", intent, "err", err)
	}
}
