package mailbox

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// An actor blocked on its first message leaves the others waiting in its
// mailbox, and the gauge sees them.
func TestDepthsCountWaitingMessages(t *testing.T) {
	system := actor.NewActorSystem()
	t.Cleanup(system.Shutdown)
	g := New()
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	props := actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(string); ok {
			select {
			case started <- struct{}{}:
			default:
			}
			<-release
		}
	})
	pid := system.Root.Spawn(g.Props("busy", props))
	for range 5 {
		system.Root.Send(pid, "work")
	}
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the actor never took its first message")
	}
	if d := g.Depths()["busy"]; d != 4 {
		t.Errorf("depth %d while the first of 5 messages is being handled, want 4", d)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for g.Depths()["busy"] != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("depth %d after the actor was released", g.Depths()["busy"])
		}
		time.Sleep(time.Millisecond)
	}
	g.Forget("busy")
	if _, ok := g.Depths()["busy"]; ok {
		t.Error("a forgotten mailbox is still counted")
	}
}

func TestNilGaugesCountNothing(t *testing.T) {
	var g *Gauges
	if g.Producer("x")() == nil {
		t.Fatal("a nil Gauges makes no mailbox")
	}
	g.Forget("x")
	if len(g.Depths()) != 0 {
		t.Error("a nil Gauges counts")
	}
}
