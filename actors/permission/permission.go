// Package permission is the permission manager actor: it decides whether a
// flow (exec, data, collab, pin) may happen, from the session's grants, the
// user's permanent grants, or by asking the session's front end — and
// denies when there is no front end or no answer in time. It computes the
// hub's warning for every request from the request's labels (warning.go);
// a warned request is never answered by a grant.
package permission

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/store"
)

// DefaultPromptTimeout is how long the user has to answer a prompt.
const DefaultPromptTimeout = 5 * time.Minute

// DefaultPromptBound is how many prompts one app's requests may put to the
// user in one query (consent fatigue): enough for two ISC round trips.
const DefaultPromptBound = 4

// maxBoundedQueries is how many queries' prompt counts a session keeps.
const maxBoundedQueries = 64

// Deps are what the permission manager needs.
type Deps struct {
	Store         *store.Store
	Sessions      *Sessions
	PromptTimeout time.Duration
	// PromptBound is how many prompts an app's own requests (ISC, its
	// assistant's actions) may raise in one query; past it they are
	// denied without asking. The plan's own steps are never bounded.
	PromptBound int
	Audit       func(store.AuditRecord)
	Logger      *slog.Logger
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
	// asked counts, per query, the prompts each app's requests raised;
	// queries lists those queries, oldest first, to forget the oldest.
	asked   map[string]map[string]int
	queries []string
}

// count is how many prompts app's requests raised in a query so far.
func (s *session) count(queryID, app string) int { return s.asked[queryID][app] }

func (s *session) add(queryID, app string) {
	if s.asked[queryID] == nil {
		if len(s.queries) >= maxBoundedQueries {
			delete(s.asked, s.queries[0])
			s.queries = s.queries[1:]
		}
		s.asked[queryID] = map[string]int{}
		s.queries = append(s.queries, queryID)
	}
	s.asked[queryID][app]++
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
	if d.PromptBound <= 0 {
		d.PromptBound = DefaultPromptBound
	}
	return actor.PropsFromProducer(func() actor.Actor { return &manager{d: d} })
}

type manager struct {
	d Deps
}

func (m *manager) Receive(ctx actor.Context) {
	switch r := ctx.Message().(type) {
	case *msg.SessionOpened:
		m.d.Sessions.m[r.SessionID] = &session{user: r.User, frontEnd: r.FrontEnd, grants: map[string]bool{}, asked: map[string]map[string]int{}}
	case *msg.SessionClosed:
		delete(m.d.Sessions.m, r.SessionID)
	case *msg.PermissionRequest:
		m.decide(ctx, r)
	}
}

// decide answers one request:
//
//	warning from the labels (always recomputed here, one place)
//	  not warned: session grant → permanent grant
//	  an app's own request past its bound → denied unasked
//	  no front end → denied
//	  ask → pin approvals only from a person or a pin rule → record
func (m *manager) decide(ctx actor.Context, r *msg.PermissionRequest) {
	s, ok := m.d.Sessions.m[r.SessionID]
	if !ok {
		m.reply(ctx, r, r.Prompt, "", msg.Deny, false, "unknown session")
		return
	}
	p := r.Prompt
	p.Warning = warning(p, m.d.Defences.On(defence.AppDataWrites))
	scoped := m.d.Defences.On(defence.GrantScope)
	key := p.LegacyKey()
	if scoped {
		key = p.Key()
	}
	// A grant answers only what the hub would not warn about: a warned
	// request is always put to the user.
	if !scoped || p.Warning == "" {
		if s.grants[key] {
			m.reply(ctx, r, p, s.user, msg.AllowSession, false, "allowed for this session")
			return
		}
		if m.permanentAllowed(p, scoped) {
			granted, err := m.d.Store.HasGrant(s.user, key)
			if err != nil {
				m.reply(ctx, r, p, s.user, msg.Deny, false, "cannot read permanent grants: "+err.Error())
				return
			}
			if granted {
				m.reply(ctx, r, p, s.user, msg.AllowAlways, false, "always allowed")
				return
			}
		}
	}
	if s.frontEnd == nil {
		m.reply(ctx, r, p, s.user, msg.Deny, false, "no front end to ask")
		return
	}
	if p.ChosenBy != "" && p.Kind != msg.Pin && m.d.Defences.On(defence.ConsentBound) {
		if n := s.count(r.QueryID, p.ChosenBy); n >= m.d.PromptBound {
			reason := fmt.Sprintf("%s has already raised %d prompts in this query; its further requests are denied without asking you", p.ChosenBy, n)
			m.respond(ctx, r, p, s.user, msg.Deny, false, reason, true)
			return
		}
		s.add(r.QueryID, p.ChosenBy)
	}
	f := ctx.RequestFuture(s.frontEnd, &msg.PromptRequest{QueryID: r.QueryID, SessionID: r.SessionID, Prompt: p}, m.d.PromptTimeout)
	ctx.ReenterAfter(f, func(res any, err error) {
		d, by, reason := msg.Deny, msg.ByDefault, ""
		switch rep, ok := res.(*msg.PromptReply); {
		case err != nil:
			reason = "no answer: " + err.Error()
		case !ok:
			reason = fmt.Sprintf("front end answered with %T", res)
		default:
			d, by = rep.Decision, rep.By
		}
		if p.Kind == msg.Pin && d.Allows() && by != msg.ByPerson && by != msg.ByRule && m.d.Defences.On(defence.PinByPerson) {
			d, reason = msg.Deny, "changed tools are pinned only by a person or by a policy rule for pins, not by --yes or a default"
		}
		d, reason = m.record(r.SessionID, p, key, scoped, d, reason)
		m.reply(ctx, r, p, s.user, d, true, reason)
	})
}

// permanentAllowed is whether a permanent grant may answer p; with the
// grant_scope defence off, as before labels: any read step of the plan.
func (m *manager) permanentAllowed(p msg.Prompt, scoped bool) bool {
	if scoped {
		return p.PermanentAllowed()
	}
	return p.Kind != msg.Pin && p.Effect != "write" && p.InPlan
}

// record stores a session or permanent grant under key. A grant the
// prompt did not offer counts once; one that cannot be stored counts once
// too, and says so.
func (m *manager) record(sessionID string, p msg.Prompt, key string, scoped bool, d msg.Decision, reason string) (msg.Decision, string) {
	switch d {
	case msg.AllowOnce, msg.Deny:
		return d, reason
	case msg.AllowSession:
		if scoped && !p.SessionAllowed() {
			return msg.AllowOnce, "allow session is not offered for this request; allowed once"
		}
		if s, ok := m.d.Sessions.m[sessionID]; ok {
			s.grants[key] = true
		}
		return d, reason
	case msg.AllowAlways:
		if !m.permanentAllowed(p, scoped) {
			return msg.AllowOnce, "always-allow is not offered for this flow; allowed once"
		}
		s, ok := m.d.Sessions.m[sessionID]
		if !ok {
			return msg.AllowOnce, "session ended before the grant could be stored; allowed once"
		}
		if err := m.d.Store.PutGrant(s.user, store.Grant{Key: key, At: time.Now().UTC()}); err != nil {
			m.d.Logger.Error("store grant", "key", key, "err", err)
			return msg.AllowOnce, "could not store the permanent grant; allowed once"
		}
		return d, reason
	default:
		return msg.Deny, fmt.Sprintf("unknown decision %q", d)
	}
}

func (m *manager) reply(ctx actor.Context, r *msg.PermissionRequest, p msg.Prompt, user string, d msg.Decision, asked bool, reason string) {
	m.respond(ctx, r, p, user, d, asked, reason, false)
}

// respond answers the request and tells observers and the audit log what
// was decided about p, the prompt as the hub warned it.
func (m *manager) respond(ctx actor.Context, r *msg.PermissionRequest, p msg.Prompt, user string, d msg.Decision, asked bool, reason string, bounded bool) {
	// Published before the reply, so that the query's record of its
	// decisions is complete by the time the request goes on.
	ev := &msg.PermissionDecided{QueryID: r.QueryID, SessionID: r.SessionID, Prompt: p, Decision: d, Asked: asked, Reason: reason, Bounded: bounded}
	ctx.ActorSystem().EventStream.Publish(ev)
	ctx.Respond(&msg.PermissionReply{CallID: r.CallID, QueryID: r.QueryID, Allowed: d.Allows(), Decision: d, Asked: asked, Reason: reason})
	if m.d.Audit != nil && user != "" {
		detail, _ := json.Marshal(ev)
		m.d.Audit(store.AuditRecord{
			User: user, Session: r.SessionID, QueryID: r.QueryID, Kind: "permission",
			App: p.App, Function: p.Function, Outcome: string(d), Detail: detail,
		})
	}
}
