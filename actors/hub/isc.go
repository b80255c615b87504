package hub

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/execute"
	"github.com/isolategpt/isolategpt/engine/label"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/engine/untrusted"
)

// isc mediates one inter-spoke request:
//
//	requester ──ISCRequest──▶ hub
//	  1. the requester is the spoke that sent it (by PID), busy with that query
//	  2. the provider function exists and is another app's
//	  3. the arguments fit the provider's input schema
//	  4. permission: collab requester → provider.function, the arguments
//	     labelled with everything the requester's assistant has read
//	  5. forward to the provider's spoke (a direct call, no LLM)
//	  6. the result fits the provider's output schema
//	  7. permission: data provider.function → requester
//	requester ◀─ISCReply───── hub
//
// An ISC request is never a step of the plan: the requester chose the
// call and its arguments, so both prompts say so and are warned, and a
// grant never answers them. The requester learns only "done" or "not
// completed": never whether the user refused, nor the provider's error
// text. Every refusal is audited and published with its reason; nothing is
// forwarded before the checks above it have passed.
func (h *hub) isc(ctx actor.Context, m *msg.ISCRequest) {
	start := time.Now()
	from, why := h.busySpoke(ctx, m.QueryID)
	if from == nil {
		// Not one of our spokes: a forged or stray request. Answer, audit
		// under no user, and do nothing else.
		h.d.Logger.Warn("isc from unknown sender", "sender", senderID(ctx), "function", untrusted.Escape(m.Function))
		ctx.Respond(&msg.ISCReply{CallID: m.CallID, QueryID: m.QueryID, Err: "ISC refused: " + why})
		return
	}
	function := "" // the provider, once the catalog has resolved it
	reply := func(result json.RawMessage, status, reason string) {
		r := &msg.ISCReply{CallID: m.CallID, QueryID: m.QueryID, Result: result}
		if status != msg.StatusOK {
			r.Err = h.refusal("ISC", status, reason)
		}
		ctx.Respond(r)
		h.d.Audit(store.AuditRecord{
			User: from.user, Session: from.session, QueryID: m.QueryID, Kind: "isc",
			App: from.app, Function: function, Outcome: status,
			Detail: jsonDetail(map[string]any{"from": from.app, "requested": m.Function, "reason": reason, "args": json.RawMessage(orNull(m.Args))}),
		})
		ctx.ActorSystem().EventStream.Publish(&msg.ISCRouted{
			QueryID: m.QueryID, SessionID: from.session, From: from.app, Function: function,
			Status: status, Reason: reason, Duration: time.Since(start),
		})
	}
	if why != "" {
		reply(nil, msg.StatusDenied, fmt.Sprintf("%s: %s (query %s)", from.app, why, untrusted.Quote(m.QueryID, 80)))
		return
	}
	app, fn, ok := strings.Cut(m.Function, ".")
	if !ok {
		reply(nil, msg.StatusFailed, fmt.Sprintf("function %s is not app.function", untrusted.Quote(m.Function, 80)))
		return
	}
	f, ok := h.d.Catalog.Function(app, fn)
	if !ok {
		reply(nil, msg.StatusFailed, fmt.Sprintf("no installed app offers %s", untrusted.Quote(m.Function, 80)))
		return
	}
	function = app + "." + fn
	if app == from.app {
		reply(nil, msg.StatusFailed, "an app calls its own functions directly, not through ISC")
		return
	}
	args, err := f.Input.DecodeValidate(m.Args, MaxISCBytes)
	if err != nil {
		reply(nil, msg.StatusFailed, "arguments do not fit "+function+": "+err.Error())
		return
	}
	canonArgs, _ := json.Marshal(args)
	sess, ok := h.sessions[from.session]
	q, qok := h.byQuery[m.QueryID]
	if !ok || !qok {
		reply(nil, msg.StatusFailed, "session or query closed")
		return
	}
	// Whatever the requester sends is a flow from everything its
	// assistant has read in this query.
	sent := q.read(from.app)
	chosenBy, inPlan := h.chooser(q, from.app, app, fn)
	collab := msg.Prompt{
		Kind: msg.Collab, Requester: from.app, App: app, Function: fn, Effect: f.Effect,
		InPlan: inPlan, ChosenBy: chosenBy, Origin: from.app + "." + label.Assistant, Data: execute.Describe(args, sent),
	}
	h.mediate(ctx, from.session, m.QueryID, collab, func(allowed bool, reason string) {
		if !allowed {
			reply(nil, msg.StatusDenied, reason)
			return
		}
		provider, err := h.acquire(ctx, sess, app, true, false)
		if err != nil {
			reply(nil, msg.StatusFailed, err.Error())
			return
		}
		inv := &msg.InvokeRequest{QueryID: m.QueryID, SessionID: from.session, StepID: "isc:" + from.app, App: app, Function: fn, Args: canonArgs, Labels: sent}
		h.forward(ctx, provider, inv, func(r *msg.InvokeReply) {
			if r.Err != "" {
				reason := r.Err
				if r.AppErr {
					reason = fmt.Sprintf("%s reported: %s", app, untrusted.Quote(r.Err, 300))
				}
				reply(nil, msg.StatusFailed, reason)
				return
			}
			out, err := f.Output.DecodeValidate(r.Result, MaxISCBytes)
			if err != nil {
				reply(nil, msg.StatusFailed, "result of "+function+" does not fit its declared output: "+err.Error())
				return
			}
			result := label.Of(label.Output(app, fn, "isc")).Union(sent, r.Labels)
			release := msg.Prompt{
				Kind: msg.Data, Origin: function, App: from.app, InPlan: inPlan, ChosenBy: chosenBy,
				Data: execute.Describe(out, result),
			}
			h.mediate(ctx, from.session, m.QueryID, release, func(allowed bool, reason string) {
				if !allowed {
					reply(nil, msg.StatusDenied, reason)
					return
				}
				q.saw(from.app, result)
				canon, _ := json.Marshal(out)
				reply(canon, msg.StatusOK, "")
			})
		})
	})
}

// exec asks permission for a side effect a spoke's agent loop wants to have
// on its own app. The plan named the app's assistant, not this action: an
// LLM that has read the app's own data (an email, a file) chose it and its
// arguments, which is what an injected instruction would do.
func (h *hub) exec(ctx actor.Context, m *msg.ExecRequest) {
	from, why := h.busySpoke(ctx, m.QueryID)
	if from == nil {
		// Not one of our spokes: nothing to hide from it, nothing to do.
		ctx.Respond(&msg.ExecReply{CallID: m.CallID, QueryID: m.QueryID, Reason: why})
		return
	}
	refuse := func(status, reason string) {
		ctx.Respond(&msg.ExecReply{CallID: m.CallID, QueryID: m.QueryID, Reason: h.refusal("action", status, reason)})
	}
	if why != "" {
		refuse(msg.StatusDenied, why)
		return
	}
	q, ok := h.byQuery[m.QueryID]
	if !ok {
		refuse(msg.StatusFailed, "query closed")
		return
	}
	f, ok := h.d.Catalog.Function(from.app, m.Function)
	if !ok {
		refuse(msg.StatusFailed, "unknown function "+untrusted.Quote(m.Function, 80))
		return
	}
	args, err := f.Input.DecodeValidate(m.Args, MaxISCBytes)
	if err != nil {
		refuse(msg.StatusFailed, "arguments do not fit: "+err.Error())
		return
	}
	chosenBy, inPlan := h.chooser(q, from.app, from.app, m.Function)
	p := msg.Prompt{
		Kind: msg.Exec, App: from.app, Function: m.Function, Effect: f.Effect,
		InPlan: inPlan, ChosenBy: chosenBy, Data: execute.Describe(args, q.read(from.app)),
	}
	h.permit(ctx, from.session, m.QueryID, p, func(allowed bool, reason string) {
		if !allowed {
			refuse(msg.StatusDenied, reason)
			return
		}
		ctx.Respond(&msg.ExecReply{CallID: m.CallID, QueryID: m.QueryID, Allowed: true})
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

// refusal is what a requesting app is told when its request did not go
// through. With the uniform_refusals defence on it is the same words
// whatever happened, so the app cannot tell the user's refusal from a
// failure, nor read another app's error text; the reason goes to the
// audit log and the user's answer.
func (h *hub) refusal(what, status, reason string) string {
	if h.d.Defences.On(defence.UniformRefusals) {
		return what + " request not completed"
	}
	return what + " " + status + ": " + reason
}

// chooser says who chose an action an app's spoke requested, and whether
// it is the plan's: with the app_chosen_actions defence on, the requesting
// app chose it and it is never the plan's step. Off, as before: "in the
// plan" when the plan calls the same function (or runs that app's agent).
func (h *hub) chooser(q *queryEntry, requester, app, fn string) (string, bool) {
	if h.d.Defences.On(defence.AppChosenActions) {
		return requester, false
	}
	return "", q.calls[app+"."+fn] || q.calls[app+".*"]
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

// caller is the spoke that asks, as the hub sees it: its app and user,
// and the session of the query it asks for (a pooled spoke serves all its
// user's sessions; its prompts go to that query's session).
type caller struct {
	app, user, session string
}

// busySpoke is the spoke that sent the message being handled (nil when
// the sender is none of the hub's spokes) and, when it may not ask on a
// query's behalf, why: only a spoke with a step of that query in progress
// may request ISC, approval of its own actions, or a pin prompt. The hub
// knows the sender from the actor that sent the message, never from a
// field of it.
func (h *hub) busySpoke(ctx actor.Context, queryID string) (*caller, string) {
	from, ok := h.spokes[senderID(ctx)]
	if !ok {
		return nil, "the sender is not a spoke of this hub"
	}
	c := &caller{app: from.app, user: from.user, session: from.session}
	if from.inflight[queryID] <= 0 {
		return c, "no step of this query in progress"
	}
	if q, ok := h.byQuery[queryID]; ok {
		c.session = q.session
	}
	return c, ""
}
