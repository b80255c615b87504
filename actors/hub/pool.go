package hub

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/actors/spoke"
	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/store"
)

// The pool of spokes, each holding at most one worker:
//
//	step ──▶ pool[user, app] ── live? ──▶ forward
//	              │ no
//	              ▼
//	   under both caps? ── yes ──▶ start a spoke ──▶ forward
//	              │ no
//	              ▼
//	   an idle spoke to evict (least recently used)? ── yes ──▶ stop it, start
//	              │ no
//	              ▼
//	   queue the step (StepQueued); a call's end or a spoke's stop drains it
//
// A spoke serves one user's app across that user's sessions (an MCP app's,
// one session: see poolKey), never another user's (the worker_per_user defence): its worker holds that user's app
// folder and, for an assistant, that user's spoke memory. Sessions hold a
// reference; the last one to close stops it. An ISC provider is started
// over the caps rather than queued: its requester is busy waiting for it,
// and queueing it behind steps that wait for the requester's slot could
// deadlock; each such spoke needs a busy requester, so they stay bounded.

// Defaults of the caps.
const (
	DefaultMaxSpokes        = 256
	DefaultMaxSpokesPerUser = 16
)

// errAtCap says a step must wait for a worker.
var errAtCap = errors.New("at the cap on live workers")

// pending is a step waiting for a worker.
type pending struct {
	m      *msg.InvokeRequest
	sender *actor.PID
	q      *queryEntry
}

// sweep asks the hub to stop the spokes idle past the current timeout.
type sweep struct{}

// poolKey is what a spoke is shared by: the user and the app. With the
// worker_per_user defence off (the evaluation's ablation) the app alone,
// as a pool shared by every user would be. An MCP app whose tools/list
// pin is checked keeps one spoke per session: the pin is checked at each
// start of its worker, and a session whose user refused a changed pin
// must not stop the app for the user's other sessions.
func (h *hub) poolKey(s *session, app string) string {
	if m, ok := h.d.Catalog.App(app); ok && m.MCP != nil && h.d.Defences.On(defence.PinCheck) {
		return s.user + "\x00" + app + "\x00" + s.id
	}
	if !h.d.Defences.On(defence.WorkerPerUser) {
		return "\x00" + app
	}
	return s.user + "\x00" + app
}

// acquire returns the spoke serving the session's user for app, starting
// it when there is room: under both caps, or after evicting the least
// recently used idle spoke. Without room it returns errAtCap, unless
// overCap is set (an ISC provider). fifo keeps a new spoke from passing
// steps already queued for one.
func (h *hub) acquire(ctx actor.Context, s *session, app string, overCap, fifo bool) (*spokeEntry, error) {
	key := h.poolKey(s, app)
	if e, ok := h.pool[key]; ok {
		h.attach(e, s)
		return e, nil
	}
	if !overCap {
		if fifo && len(h.queue) > 0 {
			return nil, errAtCap
		}
		if !h.room(ctx, s.user) {
			return nil, errAtCap
		}
	}
	e, err := h.startSpoke(ctx, s, app)
	if err != nil {
		return nil, err
	}
	e.key = key
	h.pool[key] = e
	h.perUser[s.user]++
	h.attach(e, s)
	h.scheduleSweep(ctx)
	return e, nil
}

// room makes room for one more spoke of user, evicting an idle one if
// needed, and reports whether there is.
func (h *hub) room(ctx actor.Context, user string) bool {
	if h.perUser[user] >= h.d.MaxSpokesPerUser {
		if v := h.lruIdle(user); v != nil {
			h.drop(ctx, v, "evicted")
		} else {
			return false
		}
	}
	if len(h.spokes) >= h.d.MaxSpokes {
		if v := h.lruIdle(""); v != nil {
			h.drop(ctx, v, "evicted")
		} else {
			return false
		}
	}
	return true
}

// lruIdle is the least recently used spoke with no call in flight, of
// user (or of anyone when user is empty).
func (h *hub) lruIdle(user string) *spokeEntry {
	var best *spokeEntry
	for _, e := range h.spokes {
		if busy(e) || (user != "" && e.user != user) {
			continue
		}
		if best == nil || e.lastUsed.Before(best.lastUsed) {
			best = e
		}
	}
	return best
}

func (h *hub) attach(e *spokeEntry, s *session) {
	e.sessions[s.id] = true
	s.spokes[e.app] = e.pid
}

// detach ends the session's reference on its spokes, stopping those no
// other session uses.
func (h *hub) detach(ctx actor.Context, s *session) {
	for _, pid := range s.spokes {
		e, ok := h.spokes[pid.Id]
		if !ok {
			continue
		}
		delete(e.sessions, s.id)
		if len(e.sessions) == 0 {
			h.drop(ctx, e, "session closed")
		}
	}
}

// drop forgets a spoke and stops it.
func (h *hub) drop(ctx actor.Context, e *spokeEntry, reason string) {
	h.forget(e)
	ctx.Stop(e.pid)
	ctx.ActorSystem().EventStream.Publish(&msg.SpokeStopped{SessionID: e.session, App: e.app, Spoke: e.pid.Id, Reason: reason})
}

// forget removes a spoke from the pool and every session's view.
func (h *hub) forget(e *spokeEntry) {
	delete(h.spokes, e.pid.Id)
	if h.pool[e.key] == e {
		delete(h.pool, e.key)
	}
	if h.perUser[e.user]--; h.perUser[e.user] <= 0 {
		delete(h.perUser, e.user)
	}
	for id := range e.sessions {
		if sess, ok := h.sessions[id]; ok && sess.spokes[e.app] != nil && sess.spokes[e.app].Id == e.pid.Id {
			delete(sess.spokes, e.app)
		}
	}
	h.d.Mailboxes.Forget(e.name)
}

// startSpoke starts a spoke for the session's user and app.
func (h *hub) startSpoke(ctx actor.Context, s *session, app string) (*spokeEntry, error) {
	m, ok := h.d.Catalog.App(app)
	if !ok {
		return nil, fmt.Errorf("unknown app %q", app)
	}
	mem, err := h.d.Store.SpokeMemory(s.user, app)
	if err != nil {
		return nil, err
	}
	var peers []plan.AppEntry
	for _, e := range h.d.Catalog.View(h.d.Defences) {
		if e.App != app {
			peers = append(peers, e)
		}
	}
	h.spawned++
	installDir, err := h.installDir(m)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("spoke-%d-%s", h.spawned, app)
	pid, err := ctx.SpawnNamed(h.d.Mailboxes.Props(name, spoke.Props(spoke.Deps{
		App: m, User: s.user, SessionID: s.id, Launcher: h.d.Launcher, DataDir: filepath.Join(h.d.AppsDir, s.user, app),
		InstallDir: installDir, Installed: h.d.Installed, Getenv: h.d.Getenv,
		Memory: mem, Model: h.d.Model, Peers: peers, IdleTimeout: h.d.SpokeIdle,
		CallTimeout: h.callTimeout(m), Logger: h.d.Logger.With("app", app), Defences: h.d.Defences,
	})), name)
	if err != nil {
		return nil, fmt.Errorf("start spoke %s: %w", app, err)
	}
	e := &spokeEntry{
		pid: pid, name: name, session: s.id, user: s.user, app: app, inflight: map[string]int{},
		timeout: h.callTimeout(m), sessions: map[string]bool{}, lastUsed: time.Now(),
	}
	h.spokes[pid.Id] = e
	h.d.Audit(store.AuditRecord{User: s.user, Session: s.id, Kind: "spoke", App: app, Outcome: "started"})
	ctx.ActorSystem().EventStream.Publish(&msg.SpokeStarted{SessionID: s.id, App: app, Spoke: pid.Id})
	return e, nil
}

// enqueue makes a step wait for a worker, and says so.
func (h *hub) enqueue(ctx actor.Context, p *pending) {
	h.queue = append(h.queue, p)
	h.queuedTotal++
	ctx.ActorSystem().EventStream.Publish(&msg.StepQueued{QueryID: p.m.QueryID, SessionID: p.q.session, App: p.m.App, Queued: len(h.queue)})
}

// drain routes the waiting steps that now have room, in order, dropping
// those whose query has ended.
func (h *hub) drain(ctx actor.Context) {
	if len(h.queue) == 0 {
		return
	}
	waiting := h.queue
	h.queue = nil
	for i, p := range waiting {
		if q, ok := h.byQuery[p.m.QueryID]; !ok || q != p.q || q.finished {
			continue
		}
		if !h.route(ctx, p, false) {
			// Still no room: it and everything after it keep their turn.
			h.queue = append(append([]*pending{p}, h.lateRoutes(ctx, waiting[i+1:])...), h.queue...)
			return
		}
	}
}

// lateRoutes routes the waiting steps that need no new spoke (theirs
// started meanwhile) and returns the others, in order.
func (h *hub) lateRoutes(ctx actor.Context, ps []*pending) []*pending {
	var rest []*pending
	for _, p := range ps {
		if q, ok := h.byQuery[p.m.QueryID]; !ok || q != p.q || q.finished {
			continue
		}
		s, ok := h.sessions[p.q.session]
		if ok {
			if _, live := h.pool[h.poolKey(s, p.m.App)]; live {
				h.route(ctx, p, false)
				continue
			}
		}
		rest = append(rest, p)
	}
	return rest
}

// idleTimeout is how long a spoke may stay idle: the configured time
// while fewer than half the global cap are live, shrinking linearly to a
// tenth of it as the live spokes reach the cap.
func (h *hub) idleTimeout() time.Duration {
	base := h.d.SpokeIdle
	if base <= 0 {
		base = spoke.DefaultIdleTimeout
	}
	live, half := len(h.spokes), h.d.MaxSpokes/2
	if live <= half || half == 0 {
		return base
	}
	free := float64(h.d.MaxSpokes-live) / float64(h.d.MaxSpokes-half)
	return max(time.Duration(float64(base)*free), base/10)
}

// scheduleSweep arranges for a sweep while the pool is under pressure (the
// spokes' own idle timers cover the rest).
func (h *hub) scheduleSweep(ctx actor.Context) {
	if h.sweepTimer != nil || len(h.spokes) <= h.d.MaxSpokes/2 {
		return
	}
	system, self := ctx.ActorSystem(), ctx.Self()
	h.sweepTimer = time.AfterFunc(max(h.idleTimeout()/4, 10*time.Millisecond), func() { system.Root.Send(self, &sweep{}) })
}

// sweepIdle stops the spokes idle past the shrunk timeout.
func (h *hub) sweepIdle(ctx actor.Context) {
	h.sweepTimer = nil
	limit := h.idleTimeout()
	for _, e := range h.spokes {
		if !busy(e) && time.Since(e.lastUsed) > limit {
			h.drop(ctx, e, "idle")
		}
	}
	h.drain(ctx)
	h.scheduleSweep(ctx)
}

func (h *hub) stopSweeps() {
	if h.sweepTimer != nil {
		h.sweepTimer.Stop()
		h.sweepTimer = nil
	}
}
