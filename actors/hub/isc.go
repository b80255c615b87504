package hub

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/execute"
	"github.com/isolategpt/isolategpt/engine/store"
)

// isc mediates one inter-spoke request:
//
//	requester ──ISCRequest──▶ hub
//	  1. the requester is the spoke that sent it (by PID), busy with that query
//	  2. the provider function exists and is another app's
//	  3. the arguments fit the provider's input schema
//	  4. permission: collab requester → provider.function
//	  5. forward to the provider's spoke (a direct call, no LLM)
//	  6. the result fits the provider's output schema
//	  7. permission: data provider.function → requester
//	requester ◀─ISCReply───── hub
//
// Every refusal is answered, audited and published; nothing is forwarded
// before the checks above it have passed.
func (h *hub) isc(ctx actor.Context, m *msg.ISCRequest) {
	start := time.Now()
	from, why := h.busySpoke(ctx, m.QueryID)
	if from == nil {
		// Not one of our spokes: a forged or stray request. Answer, audit
		// under no user, and do nothing else.
		h.d.Logger.Warn("isc from unknown sender", "sender", senderID(ctx), "function", m.Function)
		ctx.Respond(&msg.ISCReply{CallID: m.CallID, QueryID: m.QueryID, Err: "ISC refused: " + why})
		return
	}
	reply := func(result json.RawMessage, status, reason string) {
		r := &msg.ISCReply{CallID: m.CallID, QueryID: m.QueryID, Result: result}
		if status != msg.StatusOK {
			r.Err = "ISC " + status + ": " + reason
		}
		ctx.Respond(r)
		h.d.Audit(store.AuditRecord{
			User: from.user, Session: from.session, QueryID: m.QueryID, Kind: "isc",
			App: from.app, Function: m.Function, Outcome: status,
			Detail: jsonDetail(map[string]any{"from": from.app, "to": m.Function, "reason": reason, "args": json.RawMessage(orNull(m.Args))}),
		})
		ctx.ActorSystem().EventStream.Publish(&msg.ISCRouted{
			QueryID: m.QueryID, SessionID: from.session, From: from.app, Function: m.Function,
			Status: status, Reason: reason, Duration: time.Since(start),
		})
	}
	if why != "" {
		reply(nil, msg.StatusDenied, fmt.Sprintf("%s: %s (query %q)", from.app, why, m.QueryID))
		return
	}
	app, fn, ok := strings.Cut(m.Function, ".")
	if !ok {
		reply(nil, msg.StatusFailed, fmt.Sprintf("function %q is not app.function", m.Function))
		return
	}
	f, ok := h.d.Catalog.Function(app, fn)
	if !ok {
		reply(nil, msg.StatusFailed, fmt.Sprintf("no installed app offers %s", m.Function))
		return
	}
	if app == from.app {
		reply(nil, msg.StatusFailed, "an app calls its own functions directly, not through ISC")
		return
	}
	args, err := f.Input.DecodeValidate(m.Args, MaxISCBytes)
	if err != nil {
		reply(nil, msg.StatusFailed, "arguments do not fit "+m.Function+": "+err.Error())
		return
	}
	canonArgs, _ := json.Marshal(args)
	sess, ok := h.sessions[from.session]
	if !ok {
		reply(nil, msg.StatusFailed, "session closed")
		return
	}
	inPlan := h.inPlan(m.QueryID, app, fn)
	collab := msg.Prompt{
		Kind: msg.Collab, Requester: from.app, App: app, Function: fn, Effect: f.Effect,
		InPlan: inPlan, Origin: from.app, Data: items(args, from.app),
	}
	h.mediate(ctx, from.session, m.QueryID, collab, func(allowed bool, reason string) {
		if !allowed {
			reply(nil, msg.StatusDenied, reason)
			return
		}
		provider, err := h.spokeFor(ctx, sess, app)
		if err != nil {
			reply(nil, msg.StatusFailed, err.Error())
			return
		}
		inv := &msg.InvokeRequest{QueryID: m.QueryID, SessionID: from.session, StepID: "isc:" + from.app, App: app, Function: fn, Args: canonArgs}
		h.forward(ctx, provider, inv, func(r *msg.InvokeReply) {
			if r.Err != "" {
				reason := r.Err
				if r.AppErr {
					reason = fmt.Sprintf("%s reported: %q", app, execute.Preview(r.Err))
				}
				reply(nil, msg.StatusFailed, reason)
				return
			}
			out, err := f.Output.DecodeValidate(r.Result, MaxISCBytes)
			if err != nil {
				reply(nil, msg.StatusFailed, "result of "+m.Function+" does not fit its declared output: "+err.Error())
				return
			}
			release := msg.Prompt{
				Kind: msg.Data, Origin: m.Function, App: from.app, InPlan: inPlan,
				Data: items(out, m.Function),
			}
			h.mediate(ctx, from.session, m.QueryID, release, func(allowed bool, reason string) {
				if !allowed {
					reply(nil, msg.StatusDenied, reason)
					return
				}
				canon, _ := json.Marshal(out)
				reply(canon, msg.StatusOK, "")
			})
		})
	})
}

// exec asks permission for a side effect a spoke's agent loop wants to have
// on its own app.
func (h *hub) exec(ctx actor.Context, m *msg.ExecRequest) {
	from, why := h.busySpoke(ctx, m.QueryID)
	if why != "" {
		ctx.Respond(&msg.ExecReply{CallID: m.CallID, QueryID: m.QueryID, Reason: why})
		return
	}
	f, ok := h.d.Catalog.Function(from.app, m.Function)
	if !ok {
		ctx.Respond(&msg.ExecReply{CallID: m.CallID, QueryID: m.QueryID, Reason: "unknown function " + m.Function})
		return
	}
	args, err := f.Input.DecodeValidate(m.Args, MaxISCBytes)
	if err != nil {
		ctx.Respond(&msg.ExecReply{CallID: m.CallID, QueryID: m.QueryID, Reason: "arguments do not fit: " + err.Error()})
		return
	}
	p := msg.Prompt{
		Kind: msg.Exec, App: from.app, Function: m.Function, Effect: f.Effect,
		InPlan: h.inPlan(m.QueryID, from.app, m.Function), Data: items(args, from.app+" (agent)"),
	}
	if f.Effect == "write" {
		// The plan named the app's assistant, not this action: an LLM that
		// has read the app's own data (an email, a file) chose it and its
		// arguments, which is what an injected instruction would do.
		p.Warning = fmt.Sprintf("%s's assistant chose to run %s.%s and its arguments itself, after reading the app's data; your query did not name this action.", from.app, from.app, m.Function)
	}
	h.permit(ctx, from.session, m.QueryID, p, func(allowed bool, reason string) {
		ctx.Respond(&msg.ExecReply{CallID: m.CallID, QueryID: m.QueryID, Allowed: allowed, Reason: reason})
	})
}

// mediate asks the user about an ISC flow; only the evaluation's ablation
// (defence.ISCMediation off) lets the flow through unasked.
func (h *hub) mediate(ctx actor.Context, sessionID, queryID string, p msg.Prompt, then func(bool, string)) {
	if !h.d.Defences.On(defence.ISCMediation) {
		then(true, "")
		return
	}
	h.permit(ctx, sessionID, queryID, p, then)
}

// permit asks the permission manager and continues on the hub's goroutine.
func (h *hub) permit(ctx actor.Context, sessionID, queryID string, p msg.Prompt, then func(bool, string)) {
	f := ctx.RequestFuture(h.d.Permission, &msg.PermissionRequest{QueryID: queryID, SessionID: sessionID, Prompt: p}, h.d.PermissionWait)
	ctx.ReenterAfter(f, func(res any, err error) {
		r, ok := res.(*msg.PermissionReply)
		switch {
		case err != nil:
			then(false, "permission manager did not answer: "+err.Error())
		case !ok:
			then(false, fmt.Sprintf("permission manager answered with %T", res))
		default:
			then(r.Allowed, r.Reason)
		}
	})
}

// inPlan tells whether app.fn (or the app's agent) is part of the query's
// accepted plan.
func (h *hub) inPlan(queryID, app, fn string) bool {
	q, ok := h.byQuery[queryID]
	if !ok {
		return false
	}
	return q.calls[app+"."+fn] || q.calls[app+".*"]
}

func items(v any, origin string) []msg.DataItem {
	m, ok := v.(map[string]any)
	if !ok {
		return []msg.DataItem{{Name: "value", Value: execute.PromptValue(v), Origin: origin}}
	}
	out := make([]msg.DataItem, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, msg.DataItem{Name: k, Value: execute.PromptValue(m[k]), Origin: origin})
	}
	return out
}

func senderID(ctx actor.Context) string {
	if ctx.Sender() == nil {
		return ""
	}
	return ctx.Sender().Id
}

func orNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return json.RawMessage("null")
	}
	return b
}

func jsonDetail(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// busySpoke is the spoke that sent the message being handled (nil when
// the sender is none of the hub's spokes) and, when it may not ask on a
// query's behalf, why: only a spoke with a step of that query in progress
// may request ISC, approval of its own actions, or a pin prompt. The hub
// knows the sender from the actor that sent the message, never from a
// field of it.
func (h *hub) busySpoke(ctx actor.Context, queryID string) (*spokeEntry, string) {
	from, ok := h.spokes[senderID(ctx)]
	if !ok {
		return nil, "the sender is not a spoke of this hub"
	}
	if from.inflight[queryID] <= 0 {
		return from, "no step of this query in progress"
	}
	return from, ""
}
