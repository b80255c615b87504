// Package rpc lets a goroutine that works for an actor send requests as that
// actor: the receiver sees the actor's own PID as the sender, which is how
// the hub tells its spokes and queries apart without trusting any field of a
// message. Replies are matched by a call id the reply echoes.
//
//	goroutine ──Call: Request(sender=actor)──────────────────────▶ target
//	goroutine ◀─chan── actor ◀──reply{CallID}───────────────────── target
package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// Request is a message that can carry a call id.
type Request interface {
	// WithCallID returns a copy of the message carrying id.
	WithCallID(id uint64) any
}

// Reply is a message that answers a call.
type Reply interface {
	// ReplyTo returns the call id of the request answered.
	ReplyTo() uint64
}

// ErrStopped is returned when the actor stops before the reply arrives.
var ErrStopped = errors.New("rpc: actor stopped")

// Client is owned by one actor. Call and Tell may be used from any
// goroutine; Handle must be called from the actor's Receive. A request
// goes straight to its target with the actor's PID as its sender (one
// mailbox hop, not two through the actor's own); replies come back to the
// actor, whose Handle hands each to its waiting call.
type Client struct {
	system *actor.ActorSystem
	self   *actor.PID

	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan any
	stopped bool
	// done is closed by Close: a waiting call fails then instead of
	// waiting for a reply that cannot come.
	done      chan struct{}
	closeOnce sync.Once
}

// NewClient returns a client for the actor with PID self.
func NewClient(system *actor.ActorSystem, self *actor.PID) *Client {
	return &Client{system: system, self: self, pending: map[uint64]chan any{}, done: make(chan struct{})}
}

// send posts m to target in the actor's name, unless the actor has
// stopped. The caller holds c.mu, so that nothing goes out in the actor's
// name once Close has run.
func (c *Client) send(target *actor.PID, m any) {
	c.system.Root.RequestWithCustomSender(target, m, c.self)
}

// Call sends req to target as the actor and waits for the correlated reply.
func (c *Client) Call(ctx context.Context, target *actor.PID, req Request) (any, error) {
	ch := make(chan any, 1)
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil, ErrStopped
	}
	c.next++
	id := c.next
	c.pending[id] = ch
	c.send(target, req.WithCallID(id))
	c.mu.Unlock()
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, ErrStopped
		}
		return r, nil
	case <-ctx.Done():
		// A late reply finds no entry and is dropped.
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return nil, fmt.Errorf("rpc: waiting for reply: %w", ctx.Err())
	case <-c.done:
		// The reply may have come just before the actor stopped.
		select {
		case r, ok := <-ch:
			if ok {
				return r, nil
			}
		default:
		}
		return nil, ErrStopped
	}
}

// Tell sends a message to target as the actor, without waiting.
func (c *Client) Tell(target *actor.PID, m Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped {
		c.send(target, m)
	}
}

// Handle hands a reply to the call waiting for it. It reports whether the
// message was a reply (one nobody waits for any more is dropped).
func (c *Client) Handle(ctx actor.Context) bool {
	m, ok := ctx.Message().(Reply)
	if !ok {
		return false
	}
	id := m.ReplyTo()
	c.mu.Lock()
	ch, ok := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if ok {
		ch <- m // buffered: one reply per call
	}
	return true
}

// Close fails every call still waiting, and every later one, and sends
// nothing more in the actor's name. Call it when the actor stops.
func (c *Client) Close() {
	c.closeOnce.Do(func() { close(c.done) })
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
}

// pendingCalls is how many calls wait for a reply.
func (c *Client) pendingCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}
