// Package permission is the permission manager actor: it decides whether a
// flow (exec, data, collab) may happen, from the session's grants, the
// user's permanent grants, or by asking the session's front end — and
// denies when there is no front end or no answer in time.
package permission

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/store"
)

// DefaultPromptTimeout is how long the user has to answer a prompt.
const DefaultPromptTimeout = 5 * time.Minute

// Deps are what the permission manager needs.
type Deps struct {
	Store         *store.Store
	Sessions      *Sessions
	PromptTimeout time.Duration
	Audit         func(store.AuditRecord)
	Logger        *slog.Logger
	// Defences is which defences are on (all, outside the evaluation).
	Defences defence.Set
}

// Sessions holds session state outside the actor instance so that a restart
// of the actor loses no session grant. Only the actor touches it.
type Sessions struct {
	m map[string]*session
}

// NewSessions returns an empty table.
func NewSessions() *Sessions { return &Sessions{m: map[string]*session{}} }

type session struct {
	user     string
	frontEnd *actor.PID
	grants   map[string]bool
}

// Props returns the permission manager's props.
func Props(d Deps) *actor.Props {
	if d.PromptTimeout <= 0 {
		d.PromptTimeout = DefaultPromptTimeout
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Sessions == nil {
		d.Sessions = NewSessions()
	}
	return actor.PropsFromProducer(func() actor.Actor { return &manager{d: d} })
}

type manager struct {
	d Deps
}

func (m *manager) Receive(ctx actor.Context) {
	switch r := ctx.Message().(type) {
	case *msg.SessionOpened:
		m.d.Sessions.m[r.SessionID] = &session{user: r.User, frontEnd: r.FrontEnd, grants: map[string]bool{}}
	case *msg.SessionClosed:
		delete(m.d.Sessions.m, r.SessionID)
	case *msg.PermissionRequest:
		m.decide(ctx, r)
	}
}

func (m *manager) decide(ctx actor.Context, r *msg.PermissionRequest) {
	s, ok := m.d.Sessions.m[r.SessionID]
	if !ok {
		m.reply(ctx, r, "", msg.Deny, false, "unknown session")
		return
	}
	p := r.Prompt
	if p.Warning == "" {
		p.Warning = Warning(p)
	}
	if !m.d.Defences.On(defence.HubWarnings) {
		p.Warning = ""
	}
	key := p.Key()
	if s.grants[key] {
		m.reply(ctx, r, s.user, msg.AllowSession, false, "allowed for this session")
		return
	}
	if p.PermanentAllowed() {
		granted, err := m.d.Store.HasGrant(s.user, key)
		if err != nil {
			m.reply(ctx, r, s.user, msg.Deny, false, "cannot read permanent grants: "+err.Error())
			return
		}
		if granted {
			m.reply(ctx, r, s.user, msg.AllowAlways, false, "always allowed")
			return
		}
	}
	if s.frontEnd == nil {
		m.reply(ctx, r, s.user, msg.Deny, false, "no front end to ask")
		return
	}
	f := ctx.RequestFuture(s.frontEnd, &msg.PromptRequest{QueryID: r.QueryID, SessionID: r.SessionID, Prompt: p}, m.d.PromptTimeout)
	ctx.ReenterAfter(f, func(res any, err error) {
		d, reason := msg.Deny, ""
		switch rep, ok := res.(*msg.PromptReply); {
		case err != nil:
			reason = "no answer: " + err.Error()
		case !ok:
			reason = fmt.Sprintf("front end answered with %T", res)
		default:
			d = rep.Decision
		}
		d, reason = m.record(r.SessionID, p, d, reason)
		m.reply(ctx, r, s.user, d, true, reason)
	})
}

// record stores a session or permanent grant. A permanent grant the prompt
// did not offer counts once; one that cannot be stored counts once too, and
// says so.
func (m *manager) record(sessionID string, p msg.Prompt, d msg.Decision, reason string) (msg.Decision, string) {
	switch d {
	case msg.AllowOnce, msg.Deny:
		return d, reason
	case msg.AllowSession:
		if s, ok := m.d.Sessions.m[sessionID]; ok {
			s.grants[p.Key()] = true
		}
		return d, reason
	case msg.AllowAlways:
		if !p.PermanentAllowed() {
			return msg.AllowOnce, "always-allow is not offered for this flow; allowed once"
		}
		s, ok := m.d.Sessions.m[sessionID]
		if !ok {
			return msg.AllowOnce, "session ended before the grant could be stored; allowed once"
		}
		if err := m.d.Store.PutGrant(s.user, store.Grant{Key: p.Key(), At: time.Now().UTC()}); err != nil {
			m.d.Logger.Error("store grant", "key", p.Key(), "err", err)
			return msg.AllowOnce, "could not store the permanent grant; allowed once"
		}
		return d, reason
	default:
		return msg.Deny, fmt.Sprintf("unknown decision %q", d)
	}
}

func (m *manager) reply(ctx actor.Context, r *msg.PermissionRequest, user string, d msg.Decision, asked bool, reason string) {
	ctx.Respond(&msg.PermissionReply{CallID: r.CallID, QueryID: r.QueryID, Allowed: d.Allows(), Decision: d, Asked: asked, Reason: reason})
	ev := &msg.PermissionDecided{QueryID: r.QueryID, SessionID: r.SessionID, Prompt: r.Prompt, Decision: d, Asked: asked, Reason: reason}
	ctx.ActorSystem().EventStream.Publish(ev)
	if m.d.Audit != nil && user != "" {
		detail, _ := json.Marshal(ev)
		m.d.Audit(store.AuditRecord{
			User: user, Session: r.SessionID, QueryID: r.QueryID, Kind: "permission",
			App: r.Prompt.App, Function: r.Prompt.Function, Outcome: string(d), Detail: detail,
		})
	}
}

// Warning is the hub's own warning for a prompt, if it has one.
func Warning(p msg.Prompt) string {
	switch {
	case !p.InPlan && p.Kind == msg.Collab:
		return fmt.Sprintf("%s asks to use %s, which is not part of the plan for your query.", p.Requester, p.Target())
	case !p.InPlan && p.Kind == msg.Data:
		return fmt.Sprintf("%s, outside the plan for your query.", Flow(p))
	case !p.InPlan:
		return fmt.Sprintf("%s is not part of the plan for your query.", p.Target())
	case p.Kind == msg.Data && p.Origin != "user":
		return Flow(p) + "."
	}
	return ""
}

// Flow says, in the hub's words, where a data flow's values come from and
// where they would go: "Data produced by drive.retrieve (app drive) would be
// given to mail.send (app mail)". Every name in it is an identifier the hub
// checked; nothing an app wrote.
func Flow(p msg.Prompt) string {
	return fmt.Sprintf("%s would be given to %s", source(p.Origin), Destination(p))
}

func source(origin string) string {
	switch {
	case origin == "" || origin == "user":
		return "Data from your query"
	case origin == "hub":
		return "Data the hub chose"
	case origin == "memory":
		return "Data from your earlier queries"
	}
	app, fn, _ := strings.Cut(origin, ".")
	if fn == "*" || fn == "" {
		return fmt.Sprintf("Data produced by the app %s's assistant", app)
	}
	return fmt.Sprintf("Data produced by %s (app %s)", origin, app)
}

// Destination names who would receive a flow: a function of an app, or an
// app's assistant (its agent loop), which may use the data in any of its
// app's functions.
func Destination(p msg.Prompt) string {
	if p.Function == "" || p.Function == "*" {
		return fmt.Sprintf("the app %s's assistant, which may use it in any of %s's functions", p.App, p.App)
	}
	return fmt.Sprintf("%s (app %s)", p.Target(), p.App)
}
