// Package hub is the hub actor: it opens sessions, runs each query in a
// child query actor, keeps a bounded pool of spokes — one per user and app,
// shared by that user's sessions, started on first use, stopped when idle
// or evicted, with steps queued when the pool is full (pool.go) — routes every step to the right spoke, and mediates
// every inter-spoke (ISC) request — resolving the provider, validating the
// arguments, asking permission, forwarding, validating the result and asking
// again before releasing it. It knows who sent a message from the actor
// context, never from a field of the message.
package hub

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/actors/mailbox"
	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/actors/query"
	"github.com/isolategpt/isolategpt/actors/spoke"
	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/label"
	"github.com/isolategpt/isolategpt/engine/llm"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/planner"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/specs"
)

// Defaults.
const (
	DefaultInvokeTimeout = 60 * time.Second
	DefaultQueryTimeout  = 10 * time.Minute
	// DefaultPermissionWait bounds how long the hub waits for the
	// permission manager, which itself bounds the user's answer.
	DefaultPermissionWait = 6 * time.Minute
	// MaxISCBytes caps the arguments and the result of one ISC request.
	MaxISCBytes = 256 << 10
)

// Deps are what the hub needs.
type Deps struct {
	Catalog    *plan.Catalog
	Store      *store.Store
	Launcher   sandbox.Launcher
	Model      llms.Model
	ModelInfo  llm.Info
	Permission *actor.PID
	// AppsDir holds each app's own folder: AppsDir/<user>/<app>.
	AppsDir string
	// Installed holds installed apps' folders and MCP tools/list pins;
	// Getenv reads the hub's environment for the names an MCP manifest
	// allows.
	Installed spoke.Installed
	Getenv    func(string) string
	// Mailboxes counts the messages waiting for the hub's spokes; the
	// status reply gives the depth of every mailbox it counts.
	Mailboxes *mailbox.Gauges

	SpokeIdle time.Duration
	// MaxSpokes and MaxSpokesPerUser cap the live spokes (each holds at
	// most one worker) in all and per user; zero picks the defaults.
	MaxSpokes        int
	MaxSpokesPerUser int
	// MaxQueries caps the queries running at once, MaxQueriesPerUser one
	// user's; the others wait their turn before planning (admit.go). Zero
	// picks half of MaxSpokes and MaxSpokesPerUser, each at least
	// MinMaxQueries.
	MaxQueries        int
	MaxQueriesPerUser int
	InvokeTimeout     time.Duration
	QueryTimeout      time.Duration
	PermissionWait    time.Duration
	MemoryTurns       int
	// SpokeRestarts is how many times a crashing spoke is restarted within
	// a minute before it is stopped.
	SpokeRestarts int
	// Defences is which defences are on (all, outside the evaluation).
	Defences defence.Set

	Audit  func(store.AuditRecord)
	Logger *slog.Logger
}

// Props returns the hub's props.
func Props(d Deps) *actor.Props {
	if d.InvokeTimeout <= 0 {
		d.InvokeTimeout = DefaultInvokeTimeout
	}
	if d.QueryTimeout <= 0 {
		d.QueryTimeout = DefaultQueryTimeout
	}
	if d.PermissionWait <= 0 {
		d.PermissionWait = DefaultPermissionWait
	}
	if d.MaxSpokes <= 0 {
		d.MaxSpokes = DefaultMaxSpokes
	}
	if d.MaxSpokesPerUser <= 0 {
		d.MaxSpokesPerUser = DefaultMaxSpokesPerUser
	}
	if d.SpokeRestarts <= 0 {
		d.SpokeRestarts = 3
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Audit == nil {
		d.Audit = func(store.AuditRecord) {}
	}
	return actor.PropsFromProducer(func() actor.Actor { return newHub(d) })
}

type hub struct {
	d        Deps
	planner  *planner.Planner
	memory   *query.Memory
	sessions map[string]*session
	spokes   map[string]*spokeEntry // by PID id
	// pool is the live spokes by poolKey, perUser how many each user has.
	pool    map[string]*spokeEntry
	perUser map[string]int
	// queue is the steps waiting for room in the pool, oldest first.
	queue       []*pending
	queuedTotal int
	sweepTimer  *time.Timer
	queries     map[string]*queryEntry // by PID id
	// waiting is the queries waiting to be admitted, oldest first.
	waiting            []*waitingQuery
	waitingIDs         map[string]bool
	runningByUser      map[string]int
	queriesQueuedTotal int
	byQuery            map[string]*queryEntry // by query id
	spawned            int
	// firstUser is the user of the first session, every session's user
	// when user separation is switched off (the evaluation's ablation).
	firstUser string
	// spokeStrategy decides what happens to a spoke that panics.
	spokeStrategy actor.SupervisorStrategy
}

type session struct {
	id     string
	user   string
	spokes map[string]*actor.PID // by app id
}

type spokeEntry struct {
	pid      *actor.PID
	name     string // the actor's name, its mailbox's too
	key      string // its poolKey
	session  string // the session that started it
	user     string
	app      string
	inflight map[string]int // query id → calls in progress
	// sessions are the open sessions that used it; lastUsed is when a
	// call last started or ended, for eviction.
	sessions map[string]bool
	lastUsed time.Time
	// timeout is how long the hub waits for one of its calls.
	timeout time.Duration
}

// callTimeout is how long a call of app m may take: the hub's limit, or
// longer for an MCP app whose manifest sets a longer one (with a margin,
// so that the worker's own limit fires first and names itself).
func (h *hub) callTimeout(m *specs.Manifest) time.Duration {
	if m.MCP != nil && m.MCP.Timeout > 0 {
		if d := time.Duration(m.MCP.Timeout)*time.Second + 5*time.Second; d > h.d.InvokeTimeout {
			return d
		}
	}
	return h.d.InvokeTimeout
}

type queryEntry struct {
	pid      *actor.PID
	id       string
	session  string
	user     string
	asker    *actor.PID
	calls    map[string]bool
	finished bool
	// seen is, per app, the labels of everything that app's assistant
	// has been given in this query: its tasks and what ISC released to it.
	seen map[string]label.Set
}

// read is what app's assistant has been given in this query, with its own
// label: whatever it sends or answers may carry any of it.
func (q *queryEntry) read(app string) label.Set {
	if len(q.seen[app]) == 0 {
		return label.Of(label.Output(app, "", "isc"))
	}
	return q.seen[app]
}

func (q *queryEntry) saw(app string, ls label.Set) {
	q.seen[app] = q.seen[app].Union(ls)
}

func newHub(d Deps) *hub {
	return &hub{
		d:             d,
		planner:       &planner.Planner{Model: d.Model, Catalog: d.Catalog, Defences: d.Defences},
		memory:        query.NewMemory(d.Store, d.MemoryTurns),
		sessions:      map[string]*session{},
		spokes:        map[string]*spokeEntry{},
		pool:          map[string]*spokeEntry{},
		perUser:       map[string]int{},
		queries:       map[string]*queryEntry{},
		byQuery:       map[string]*queryEntry{},
		waitingIDs:    map[string]bool{},
		runningByUser: map[string]int{},
		spokeStrategy: actor.NewOneForOneStrategy(d.SpokeRestarts, time.Minute, func(any) actor.Directive {
			return actor.RestartDirective
		}),
	}
}

// Receive dispatches the hub's messages.
func (h *hub) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *msg.OpenSessionRequest:
		h.openSession(ctx, m)
	case *msg.CloseSessionRequest:
		h.closeSession(ctx, m)
	case *msg.AskRequest:
		h.ask(ctx, m)
	case *msg.PlanAccepted:
		if q := h.queryFrom(ctx); q != nil && q.id == m.QueryID {
			q.calls = map[string]bool{}
			for _, c := range m.Calls {
				q.calls[c] = true
			}
		}
	case *msg.QueryFinished:
		h.finish(ctx, m)
	case *msg.InvokeRequest:
		h.invoke(ctx, m)
	case *msg.ISCRequest:
		h.isc(ctx, m)
	case *msg.ExecRequest:
		h.exec(ctx, m)
	case *msg.ToolsChangedRequest:
		h.toolsChanged(ctx, m)
	case *msg.SpokeIdle:
		h.idle(ctx)
	case *sweep:
		h.sweepIdle(ctx)
	case *actor.Stopping:
		h.stopSweeps()
	case *actor.Terminated:
		h.terminated(ctx, m.Who)
	case *msg.StatusRequest:
		ctx.Respond(h.status())
	}
}

func (h *hub) status() *msg.StatusReply {
	r := &msg.StatusReply{
		Sessions: len(h.sessions), Queries: len(h.queries), Mailboxes: h.d.Mailboxes.Depths(),
		Queued: len(h.queue), QueuedTotal: h.queuedTotal, QueriesQueued: len(h.waiting), QueriesQueuedTotal: h.queriesQueuedTotal, MaxQueries: h.maxQueries(), MaxSpokes: h.d.MaxSpokes, MaxSpokesPerUser: h.d.MaxSpokesPerUser,
	}
	for _, s := range h.spokes {
		n := 0
		for _, c := range s.inflight {
			n += c
		}
		r.Spokes = append(r.Spokes, msg.SpokeStatus{SessionID: s.session, User: s.user, App: s.app, InFlight: n, Sessions: len(s.sessions)})
	}
	sort.Slice(r.Spokes, func(i, j int) bool {
		if r.Spokes[i].SessionID != r.Spokes[j].SessionID {
			return r.Spokes[i].SessionID < r.Spokes[j].SessionID
		}
		return r.Spokes[i].App < r.Spokes[j].App
	})
	return r
}

// HandleFailure supervises the hub's children: a query that panics is
// stopped and its asker told; a spoke that panics is restarted a few times
// and then stopped, and later calls start a fresh one.
func (h *hub) HandleFailure(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason any, message any) {
	if q, ok := h.queries[child.Id]; ok {
		h.d.Logger.Error("query actor crashed", "query_id", q.id, "reason", fmt.Sprint(reason))
		h.d.Audit(store.AuditRecord{User: q.user, Session: q.session, QueryID: q.id, Kind: "crash", Outcome: "query stopped", Detail: jsonDetail(map[string]string{"reason": fmt.Sprint(reason)})})
		sup.StopChildren(child)
		return
	}
	if s, ok := h.spokes[child.Id]; ok {
		h.d.Logger.Error("spoke crashed", "app", s.app, "reason", fmt.Sprint(reason))
		h.d.Audit(store.AuditRecord{User: s.user, Session: s.session, Kind: "crash", App: s.app, Outcome: "spoke supervised", Detail: jsonDetail(map[string]string{"reason": fmt.Sprint(reason)})})
		system.EventStream.Publish(&msg.SpokeCrashed{SessionID: s.session, App: s.app, Spoke: child.Id, Reason: fmt.Sprint(reason)})
	}
	h.spokeStrategy.HandleFailure(system, sup, child, rs, reason, message)
}

func (h *hub) openSession(ctx actor.Context, m *msg.OpenSessionRequest) {
	if err := store.ValidUser(m.User); err != nil {
		ctx.Respond(&msg.OpenSessionReply{Err: err.Error()})
		return
	}
	id := newID("s")
	user := m.User
	if !h.d.Defences.On(defence.UserSeparation) {
		// Ablation only: every session is the first user's.
		if h.firstUser == "" {
			h.firstUser = m.User
		}
		user = h.firstUser
	}
	h.sessions[id] = &session{id: id, user: user, spokes: map[string]*actor.PID{}}
	ctx.Send(h.d.Permission, &msg.SessionOpened{SessionID: id, User: user, FrontEnd: m.FrontEnd})
	h.d.Audit(store.AuditRecord{User: user, Session: id, Kind: "session", Outcome: "opened"})
	ctx.Respond(&msg.OpenSessionReply{SessionID: id})
}

func (h *hub) closeSession(ctx actor.Context, m *msg.CloseSessionRequest) {
	s, ok := h.sessions[m.SessionID]
	if !ok {
		ctx.Respond(&msg.CloseSessionReply{Err: "unknown session " + m.SessionID})
		return
	}
	h.detach(ctx, s)
	h.dropWaiting(ctx, m.SessionID)
	delete(h.sessions, m.SessionID)
	h.drain(ctx)
	ctx.Send(h.d.Permission, &msg.SessionClosed{SessionID: m.SessionID})
	h.d.Audit(store.AuditRecord{User: s.user, Session: s.id, Kind: "session", Outcome: "closed"})
	ctx.Respond(&msg.CloseSessionReply{})
}

func (h *hub) ask(ctx actor.Context, m *msg.AskRequest) {
	s, ok := h.sessions[m.SessionID]
	if !ok {
		ctx.Respond(&msg.AskReply{QueryID: m.QueryID, Err: "unknown session " + m.SessionID})
		return
	}
	if m.QueryID == "" {
		m.QueryID = newID("q")
	}
	if _, dup := h.byQuery[m.QueryID]; dup || h.waitingIDs[m.QueryID] {
		ctx.Respond(&msg.AskReply{QueryID: m.QueryID, Err: "query id already in use"})
		return
	}
	h.admitOrWait(ctx, m, s.user, ctx.Sender())
}

// startQuery spawns the query actor of an admitted query.
func (h *hub) startQuery(ctx actor.Context, m *msg.AskRequest, asker *actor.PID) {
	s, ok := h.sessions[m.SessionID]
	if !ok {
		ctx.Send(asker, &msg.AskReply{QueryID: m.QueryID, Err: "unknown session " + m.SessionID})
		return
	}
	h.spawned++
	pid, err := ctx.SpawnNamed(query.Props(query.Deps{
		Hub: ctx.Self(), Permission: h.d.Permission, Planner: h.planner, Store: h.d.Store,
		ModelInfo: h.d.ModelInfo, User: s.user, SessionID: s.id, QueryID: m.QueryID, Query: m.Query,
		Timeout: h.d.QueryTimeout, MemoryTurns: h.d.MemoryTurns, Memory: h.memory, Audit: h.d.Audit, Logger: h.d.Logger,
		Defences: h.d.Defences,
	}), fmt.Sprintf("query-%d", h.spawned))
	if err != nil {
		ctx.Send(asker, &msg.AskReply{QueryID: m.QueryID, Err: "start query: " + err.Error()})
		return
	}
	q := &queryEntry{pid: pid, id: m.QueryID, session: s.id, user: s.user, asker: asker, seen: map[string]label.Set{}}
	h.queries[pid.Id] = q
	h.byQuery[q.id] = q
	h.runningByUser[q.user]++
}

func (h *hub) finish(ctx actor.Context, m *msg.QueryFinished) {
	q := h.queryFrom(ctx)
	if q == nil || q.id != m.QueryID {
		return
	}
	q.finished = true
	if r := m.Reply; r != nil && r.Answer != nil {
		ctx.ActorSystem().EventStream.Publish(&msg.QueryAnswered{QueryID: q.id, SessionID: q.session, Usage: r.Answer.Usage, Duration: r.Answer.Duration, Err: r.Err})
	}
	if q.asker != nil {
		ctx.Send(q.asker, m.Reply)
	}
	ctx.Stop(q.pid)
}

func (h *hub) terminated(ctx actor.Context, who *actor.PID) {
	if q, ok := h.queries[who.Id]; ok {
		if !q.finished && q.asker != nil {
			ctx.Send(q.asker, &msg.AskReply{QueryID: q.id, Err: "the query stopped before answering (see the audit log)"})
		}
		delete(h.queries, who.Id)
		delete(h.byQuery, q.id)
		if h.runningByUser[q.user]--; h.runningByUser[q.user] <= 0 {
			delete(h.runningByUser, q.user)
		}
		h.drain(ctx)
		h.admit(ctx)
		return
	}
	if s, ok := h.spokes[who.Id]; ok {
		// Stopped by its supervisor, not by the hub.
		h.forget(s)
		ctx.ActorSystem().EventStream.Publish(&msg.SpokeStopped{SessionID: s.session, App: s.app, Spoke: who.Id, Reason: "stopped"})
		h.drain(ctx)
	}
}

func (h *hub) idle(ctx actor.Context) {
	s, ok := h.spokes[ctx.Sender().Id]
	if !ok || busy(s) {
		return
	}
	h.drop(ctx, s, "idle")
	h.drain(ctx)
}

func busy(s *spokeEntry) bool {
	for _, n := range s.inflight {
		if n > 0 {
			return true
		}
	}
	return false
}

// queryFrom returns the query actor that sent the current message, if the
// sender is one.
func (h *hub) queryFrom(ctx actor.Context) *queryEntry {
	if ctx.Sender() == nil {
		return nil
	}
	return h.queries[ctx.Sender().Id]
}

// invoke routes a query's step to the app's spoke and relays the reply.
func (h *hub) invoke(ctx actor.Context, m *msg.InvokeRequest) {
	q := h.queryFrom(ctx)
	if q == nil || q.id != m.QueryID || q.session != m.SessionID {
		ctx.Respond(&msg.InvokeReply{CallID: m.CallID, QueryID: m.QueryID, Err: "invoke from an unknown sender"})
		return
	}
	h.route(ctx, &pending{m: m, sender: ctx.Sender(), q: q}, true)
}

// route forwards a step to its spoke, or, when the pool has no room,
// queues it (mayQueue) or reports false. The reply goes to the step's
// sender by PID, as a queued step is routed while the hub handles another
// message.
func (h *hub) route(ctx actor.Context, p *pending, mayQueue bool) bool {
	m, q := p.m, p.q
	fail := func(err string) bool {
		ctx.Send(p.sender, &msg.InvokeReply{CallID: m.CallID, QueryID: m.QueryID, Err: err})
		return true
	}
	s, ok := h.sessions[q.session]
	if !ok {
		return fail("session closed")
	}
	sp, err := h.acquire(ctx, s, m.App, false, mayQueue)
	if errors.Is(err, errAtCap) {
		if mayQueue {
			h.enqueue(ctx, p)
		}
		return false
	}
	if err != nil {
		return fail(err.Error())
	}
	ctx.ActorSystem().EventStream.Publish(&msg.StepStarted{QueryID: m.QueryID, SessionID: q.session, StepID: m.StepID, App: m.App, Function: m.Function, Agent: m.Task != ""})
	if m.Task != "" {
		// The assistant reads its task; what it later sends through ISC
		// or answers carries the task's labels and all it is released.
		q.saw(m.App, label.Of(label.Output(m.App, "", m.StepID)).Union(m.Labels))
	}
	h.forward(ctx, sp, m, func(r *msg.InvokeReply) {
		r.CallID = m.CallID
		if m.Task != "" {
			r.Labels = r.Labels.Union(q.seen[m.App])
		}
		ctx.Send(p.sender, r)
	})
	return true
}

// forward sends an invocation to a spoke, counting it in flight, and calls
// done with the reply (or a failure) on the hub's own goroutine.
func (h *hub) forward(ctx actor.Context, sp *spokeEntry, m *msg.InvokeRequest, done func(*msg.InvokeReply)) {
	sp.inflight[m.QueryID]++
	sp.lastUsed = time.Now()
	f := ctx.RequestFuture(sp.pid, m, sp.timeout)
	ctx.ReenterAfter(f, func(res any, err error) {
		if sp.inflight[m.QueryID]--; sp.inflight[m.QueryID] <= 0 {
			delete(sp.inflight, m.QueryID)
		}
		sp.lastUsed = time.Now()
		defer h.drain(ctx)
		r, ok := res.(*msg.InvokeReply)
		switch {
		case err != nil:
			r = &msg.InvokeReply{Err: fmt.Sprintf("app %s did not answer: %v", sp.app, err)}
		case !ok:
			r = &msg.InvokeReply{Err: fmt.Sprintf("app %s: spoke answered with %T", sp.app, res)}
		}
		r.QueryID = m.QueryID
		done(r)
	})
}

func newID(prefix string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("hub: random id: %v", err))
	}
	return prefix + "-" + hex.EncodeToString(b[:])
}
