// Package root is the top of isolategpt's actor tree: it starts and
// supervises the permission manager and the hub.
//
//	root ─┬─ permission   (restarted on a panic; its session table lives
//	      │                outside the actor, so no grant is lost)
//	      └─ hub ─┬─ query-N         (stopped on a panic; the asker is told)
//	              └─ spoke-N-<app>   (restarted a few times, then stopped)
package root

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/isolategpt/isolategpt/actors/hub"
	"github.com/isolategpt/isolategpt/actors/mailbox"
	"github.com/isolategpt/isolategpt/actors/permission"
)

// Deps are the children's dependencies. Hub.Permission is filled in here.
type Deps struct {
	Permission permission.Deps
	Hub        hub.Deps
	// Mailboxes counts the messages waiting for the permission manager,
	// the hub and (through Hub.Mailboxes) the spokes.
	Mailboxes *mailbox.Gauges
}

// WhereRequest asks the root for its children.
type WhereRequest struct{}

// WhereReply gives the children's PIDs.
type WhereReply struct {
	Hub, Permission *actor.PID
}

// Props returns the root's props. Both children are restarted on a panic,
// at most ten times a minute; past that the failure escalates and the
// system's guardian stops the tree, which the engine reports.
func Props(d Deps) *actor.Props {
	strategy := actor.NewOneForOneStrategy(10, time.Minute, func(any) actor.Directive {
		return actor.RestartDirective
	})
	return actor.PropsFromProducer(func() actor.Actor { return &rootActor{d: d} }, actor.WithSupervisor(strategy))
}

type rootActor struct {
	d          Deps
	hub, perms *actor.PID
}

func (r *rootActor) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		var err error
		if r.perms, err = ctx.SpawnNamed(r.d.Mailboxes.Props("permission", permission.Props(r.d.Permission)), "permission"); err != nil {
			panic(err)
		}
		hd := r.d.Hub
		hd.Permission, hd.Mailboxes = r.perms, r.d.Mailboxes
		if r.hub, err = ctx.SpawnNamed(r.d.Mailboxes.Props("hub", hub.Props(hd)), "hub"); err != nil {
			panic(err)
		}
	case *WhereRequest:
		ctx.Respond(&WhereReply{Hub: r.hub, Permission: r.perms})
	}
}
