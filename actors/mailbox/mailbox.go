// Package mailbox counts the messages waiting in actors' mailboxes, for the
// supervisor metrics: a mailbox producer that keeps each mailbox it makes
// under its actor's name. protoactor's own mailbox gauge reports only
// through the process-wide OpenTelemetry provider; this needs none.
package mailbox

import (
	"maps"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// Gauges are the mailboxes of named actors. The zero value is not ready;
// use New. A nil *Gauges makes plain unbounded mailboxes and counts none.
type Gauges struct {
	mu sync.Mutex
	m  map[string]actor.Mailbox
}

// New returns an empty set of gauges.
func New() *Gauges { return &Gauges{m: map[string]actor.Mailbox{}} }

// Producer makes the mailbox of the actor called name (protoactor's
// default, unbounded) and keeps it. A restarted actor keeps its mailbox.
func (g *Gauges) Producer(name string) actor.MailboxProducer {
	unbounded := actor.Unbounded()
	if g == nil {
		return unbounded
	}
	return func() actor.Mailbox {
		mb := unbounded()
		g.mu.Lock()
		g.m[name] = mb
		g.mu.Unlock()
		return mb
	}
}

// Props returns p with its mailbox counted under name.
func (g *Gauges) Props(name string, p *actor.Props) *actor.Props {
	return p.Configure(actor.WithMailbox(g.Producer(name)))
}

// Forget stops counting an actor that has stopped.
func (g *Gauges) Forget(name string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	delete(g.m, name)
	g.mu.Unlock()
}

// Depths returns how many user messages wait in each counted mailbox.
func (g *Gauges) Depths() map[string]int {
	out := map[string]int{}
	if g == nil {
		return out
	}
	g.mu.Lock()
	boxes := maps.Clone(g.m)
	g.mu.Unlock()
	for name, mb := range boxes {
		out[name] = mb.UserMessageCount()
	}
	return out
}
