// Package rpc lets a goroutine that works for an actor send requests as that
// actor: the receiver sees the actor's own PID as the sender, which is how
// the hub tells its spokes and queries apart without trusting any field of a
// message. Replies are matched by a call id the reply echoes.
//
//	goroutine ──Call──▶ (mailbox) actor ──Request(sender=self)──▶ target
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

type outbound struct {
	target *actor.PID
	msg    Request
	reply  chan any
	tell   bool
}

// abandon tells the actor that nobody waits for a call's reply any more.
type abandon struct{ reply chan any }

// Client is owned by one actor. Call and Tell may be used from any
// goroutine; Handle must be called from the actor's Receive.
type Client struct {
	system  *actor.ActorSystem
	self    *actor.PID
	next    uint64
	pending map[uint64]chan any
	// done is closed by Close: a call whose request the actor never got to
	// handle fails then instead of waiting for a reply that cannot come.
	done      chan struct{}
	closeOnce sync.Once
}

// NewClient returns a client for the actor with PID self.
func NewClient(system *actor.ActorSystem, self *actor.PID) *Client {
	return &Client{system: system, self: self, pending: map[uint64]chan any{}, done: make(chan struct{})}
}

// Call sends req to target as the actor and waits for the correlated reply.
func (c *Client) Call(ctx context.Context, target *actor.PID, req Request) (any, error) {
	ch := make(chan any, 1)
	c.system.Root.Send(c.self, &outbound{target: target, msg: req, reply: ch})
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, ErrStopped
		}
		return r, nil
	case <-ctx.Done():
		// The buffered channel lets a late reply be delivered and dropped;
		// abandon frees its entry should the reply never come.
		select {
		case <-c.done:
		default:
			c.system.Root.Send(c.self, &abandon{reply: ch})
		}
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
	c.system.Root.Send(c.self, &outbound{target: target, msg: m, tell: true})
}

// Handle processes the client's own messages and replies to its calls. It
// reports whether the message was one of them.
func (c *Client) Handle(ctx actor.Context) bool {
	switch m := ctx.Message().(type) {
	case *outbound:
		if c.closed() {
			// The actor has stopped: send nothing more in its name.
			if !m.tell {
				close(m.reply)
			}
			return true
		}
		if m.tell {
			ctx.Request(m.target, m.msg)
			return true
		}
		c.next++
		c.pending[c.next] = m.reply
		ctx.Request(m.target, m.msg.WithCallID(c.next))
		return true
	case *abandon:
		for id, ch := range c.pending {
			if ch == m.reply {
				delete(c.pending, id)
			}
		}
		return true
	case Reply:
		id := m.ReplyTo()
		ch, ok := c.pending[id]
		if !ok {
			return true // a reply nobody waits for any more: drop it
		}
		delete(c.pending, id)
		ch <- m
		return true
	}
	return false
}

// Close fails every call still waiting, and every later one. Call it when
// the actor stops.
func (c *Client) Close() {
	c.closeOnce.Do(func() { close(c.done) })
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
}

func (c *Client) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}
