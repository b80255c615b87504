package rpc

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// wait bounds every wait on an actor in these tests.
const wait = 5 * time.Second

type req struct {
	CallID uint64
	N      int
}

func (r *req) WithCallID(id uint64) any {
	c := *r
	c.CallID = id
	return &c
}

type rep struct {
	CallID uint64
	N      int
}

func (r *rep) ReplyTo() uint64 { return r.CallID }

// owner is an actor that owns a Client, as the spoke and query actors do.
type owner struct {
	client *Client
	ready  chan *Client
}

// pendingCount asks the owner how many calls its client still tracks.
type pendingCount struct{ n chan int }

func (o *owner) Receive(ctx actor.Context) {
	if o.client != nil && o.client.Handle(ctx) {
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		o.client = NewClient(ctx.ActorSystem(), ctx.Self())
		o.ready <- o.client
	case *actor.Stopping:
		o.client.Close()
	case *pendingCount:
		m.n <- o.client.pendingCalls()
	}
}

// seen is a request as the target received it.
type seen struct {
	msg    *req
	sender *actor.PID
}

// target answers requests with N*10. With batch > 0 it holds requests until
// it has that many and answers them in reverse order; with hold it answers
// only on release.
type target struct {
	seen    chan seen
	batch   int
	hold    bool
	held    []seen
	replied chan struct{}
}

type release struct{}

func (tg *target) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *req:
		s := seen{msg: m, sender: ctx.Sender()}
		tg.seen <- s
		switch {
		case tg.hold:
			tg.held = append(tg.held, s)
		case tg.batch > 0:
			tg.held = append(tg.held, s)
			if len(tg.held) == tg.batch {
				tg.answerHeld(ctx)
			}
		default:
			ctx.Respond(&rep{CallID: m.CallID, N: m.N * 10})
		}
	case *release:
		tg.answerHeld(ctx)
		tg.replied <- struct{}{}
	}
}

func (tg *target) answerHeld(ctx actor.Context) {
	for _, s := range slices.Backward(tg.held) {
		ctx.Send(s.sender, &rep{CallID: s.msg.CallID, N: s.msg.N * 10})
	}
	tg.held = nil
}

func newSystem(t *testing.T) *actor.ActorSystem {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }))
	t.Cleanup(system.Shutdown)
	return system
}

func spawnOwner(t *testing.T, system *actor.ActorSystem) (*actor.PID, *Client) {
	t.Helper()
	ready := make(chan *Client, 1)
	pid := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &owner{ready: ready} }))
	return pid, recv(t, ready)
}

func spawnTarget(t *testing.T, system *actor.ActorSystem, tg *target) *actor.PID {
	t.Helper()
	tg.seen = make(chan seen, 100)
	tg.replied = make(chan struct{}, 1)
	return system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return tg }))
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("nothing on %T within %s", ch, wait)
		panic("unreachable")
	}
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return ctx
}

func TestCallIsSentAsTheActor(t *testing.T) {
	system := newSystem(t)
	self, client := spawnOwner(t, system)
	tg := &target{}
	to := spawnTarget(t, system, tg)

	r, err := client.Call(callCtx(t), to, &req{N: 7})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := r.(*rep); !ok || got.N != 70 {
		t.Fatalf("reply %#v, want N 70", r)
	}
	s := recv(t, tg.seen)
	if !s.sender.Equal(self) {
		t.Errorf("target saw sender %v, want the owning actor %v", s.sender, self)
	}
	if s.msg.CallID == 0 {
		t.Errorf("request carried no call id")
	}
}

func TestConcurrentCallsGetTheirOwnReplies(t *testing.T) {
	const n = 50
	system := newSystem(t)
	_, client := spawnOwner(t, system)
	// The target answers only once all 50 are waiting, last first.
	to := spawnTarget(t, system, &target{batch: n})
	ctx := callCtx(t)

	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			r, err := client.Call(ctx, to, &req{N: i})
			if err != nil {
				t.Errorf("call %d: %v", i, err)
				return
			}
			if got := r.(*rep).N; got != i*10 {
				t.Errorf("call %d got reply %d, want %d", i, got, i*10)
			}
		})
	}
	wg.Wait()
}

func TestDeadlineAndLateReply(t *testing.T) {
	system := newSystem(t)
	self, client := spawnOwner(t, system)
	slow := &target{hold: true}
	slowPID := spawnTarget(t, system, slow)
	fast := spawnTarget(t, system, &target{})

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := client.Call(ctx, slowPID, &req{N: 1})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call = %v, %v; want a deadline error", r, err)
	}
	if d := time.Since(start); d > wait/2 {
		t.Errorf("Call returned after %s, long after its 50ms deadline", d)
	}
	recv(t, slow.seen)

	// The reply comes late: it is in the owner's mailbox before the next
	// call's request, so that call succeeding means the owner dropped the
	// late reply and went on.
	system.Root.Send(slowPID, &release{})
	recv(t, slow.replied)
	r, err = client.Call(callCtx(t), fast, &req{N: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.(*rep).N; got != 20 {
		t.Errorf("next call got reply %d, want 20 (not the late one)", got)
	}
	n := make(chan int, 1)
	system.Root.Send(self, &pendingCount{n: n})
	if got := recv(t, n); got != 0 {
		t.Errorf("client still tracks %d calls, want none", got)
	}
}

func TestAbandonedCallIsForgotten(t *testing.T) {
	system := newSystem(t)
	self, client := spawnOwner(t, system)
	silent := &target{hold: true} // never released
	to := spawnTarget(t, system, silent)
	for range 3 {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		if _, err := client.Call(ctx, to, &req{N: 1}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Call = %v, want a deadline error", err)
		}
		cancel()
	}
	n := make(chan int, 1)
	system.Root.Send(self, &pendingCount{n: n})
	if got := recv(t, n); got != 0 {
		t.Errorf("client tracks %d abandoned calls, want none", got)
	}
}

func TestStopFailsCalls(t *testing.T) {
	system := newSystem(t)
	self, client := spawnOwner(t, system)
	silent := &target{hold: true}
	to := spawnTarget(t, system, silent)

	type result struct {
		r   any
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := client.Call(callCtx(t), to, &req{N: 1})
		done <- result{r, err}
	}()
	recv(t, silent.seen) // the call is waiting on the target
	if err := system.Root.StopFuture(self).Wait(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, done); !errors.Is(got.err, ErrStopped) {
		t.Errorf("waiting call = %v, %v; want ErrStopped", got.r, got.err)
	}

	// A call made after the actor stopped fails at once rather than
	// waiting out its deadline.
	start := time.Now()
	if _, err := client.Call(callCtx(t), to, &req{N: 2}); !errors.Is(err, ErrStopped) {
		t.Errorf("call after stop = %v, want ErrStopped", err)
	}
	if d := time.Since(start); d > wait/2 {
		t.Errorf("call after stop took %s", d)
	}
}

func TestTellIsSentAsTheActor(t *testing.T) {
	system := newSystem(t)
	self, client := spawnOwner(t, system)
	tg := &target{}
	to := spawnTarget(t, system, tg)

	client.Tell(to, &req{N: 3})
	s := recv(t, tg.seen)
	if !s.sender.Equal(self) {
		t.Errorf("target saw sender %v, want the owning actor %v", s.sender, self)
	}
	if s.msg.N != 3 || s.msg.CallID != 0 {
		t.Errorf("target got %+v, want N 3 and no call id", s.msg)
	}
	// The target's answer to a Tell matches no call: the owner drops it
	// and keeps serving calls.
	if _, err := client.Call(callCtx(t), to, &req{N: 4}); err != nil {
		t.Fatal(err)
	}
}
