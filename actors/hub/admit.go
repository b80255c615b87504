package hub

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/isolategpt/isolategpt/actors/msg"
)

// Query admission: at most MaxQueries queries run at once, and at most
// MaxQueriesPerUser of one user's; the others wait, first come first
// served among those that may run, before planning, and are told so
// (QueryQueued, the status reply's QueriesQueued). Without it a burst of S
// queries shares the machine S ways and every one of them answers at the
// end of the burst; with it the first ones answer while the rest wait,
// and the pool is not asked for more workers than the running queries
// can use. The per-user cap keeps one user's burst from holding every
// slot while another user waits. A waiting query holds no worker, no
// slot of the pool and no goroutine; it runs, with its own time limit,
// once admitted. Its session's close ends the wait with an error, and so
// does a wait longer than the query time limit (its asker has given up
// by then).

// MinMaxQueries is the smallest default cap on running queries.
const MinMaxQueries = 16

// waitingQuery is a query waiting to be admitted.
type waitingQuery struct {
	m     *msg.AskRequest
	user  string
	asker *actor.PID
	since time.Time
}

// maxQueries is the cap on running queries: the configured one, or half
// the cap on live spokes (a query typically needs two apps), at least
// MinMaxQueries.
func (h *hub) maxQueries() int {
	if h.d.MaxQueries > 0 {
		return h.d.MaxQueries
	}
	return max(h.d.MaxSpokes/2, MinMaxQueries)
}

// maxQueriesPerUser is the cap on one user's running queries: the
// configured one, or the cap on one user's live spokes, at least
// MinMaxQueries (a user's queries share that user's spokes, and a step
// past the spoke cap waits in the pool's own queue).
func (h *hub) maxQueriesPerUser() int {
	if h.d.MaxQueriesPerUser > 0 {
		return h.d.MaxQueriesPerUser
	}
	return max(h.d.MaxSpokesPerUser, MinMaxQueries)
}

// mayStart reports whether a query of user may start now.
func (h *hub) mayStart(user string) bool {
	return len(h.queries) < h.maxQueries() && h.runningByUser[user] < h.maxQueriesPerUser()
}

// admitOrWait runs the query now when the caps allow and no query that
// could run waits before it; otherwise it waits its turn.
func (h *hub) admitOrWait(ctx actor.Context, m *msg.AskRequest, user string, asker *actor.PID) {
	if len(h.waiting) == 0 && h.mayStart(user) {
		h.startQuery(ctx, m, asker)
		return
	}
	h.waiting = append(h.waiting, &waitingQuery{m: m, user: user, asker: asker, since: time.Now()})
	h.waitingIDs[m.QueryID] = true
	// The queries before it may wait only on their own user's cap.
	h.admit(ctx)
	if h.waitingIDs[m.QueryID] {
		h.queriesQueuedTotal++
		ctx.ActorSystem().EventStream.Publish(&msg.QueryQueued{QueryID: m.QueryID, SessionID: m.SessionID, Queued: len(h.waiting)})
	}
}

// admit starts the waiting queries that the caps allow, oldest first.
func (h *hub) admit(ctx actor.Context) {
	if len(h.waiting) == 0 {
		return
	}
	kept := h.waiting[:0]
	for i, w := range h.waiting {
		if len(h.queries) >= h.maxQueries() {
			kept = append(kept, h.waiting[i:]...)
			break
		}
		if !h.mayStart(w.user) {
			kept = append(kept, w)
			continue
		}
		delete(h.waitingIDs, w.m.QueryID)
		if time.Since(w.since) > h.d.QueryTimeout {
			ctx.Send(w.asker, &msg.AskReply{QueryID: w.m.QueryID, Err: "the query waited longer than the query time limit to start"})
			continue
		}
		h.startQuery(ctx, w.m, w.asker)
	}
	clear(h.waiting[len(kept):])
	h.waiting = kept
	if len(h.waiting) == 0 {
		h.waiting = nil
	}
}

// dropWaiting ends the wait of the session's queries: the session closed.
func (h *hub) dropWaiting(ctx actor.Context, sessionID string) {
	kept := h.waiting[:0]
	for _, w := range h.waiting {
		if w.m.SessionID != sessionID {
			kept = append(kept, w)
			continue
		}
		delete(h.waitingIDs, w.m.QueryID)
		if w.asker != nil {
			ctx.Send(w.asker, &msg.AskReply{QueryID: w.m.QueryID, Err: "session closed before the query was admitted"})
		}
	}
	clear(h.waiting[len(kept):])
	h.waiting = kept
}
