package execute

import (
	"context"
	"sync"
)

// turns make steps that run at once ask their permissions in plan order,
// so that prompts come in the same order on every run (and a user answers
// "estimate on metro_hail" before "estimate on quick_ride" each time). A
// step takes its turn once every earlier step has passed its own: asked
// its permissions, or started waiting for a result it needs, or ended. A
// step waiting for results never holds a later one back, and nothing but
// the asking is ordered — the calls still run concurrently.
type turns struct {
	done []chan struct{}
	once []sync.Once
}

func newTurns(n int) *turns {
	t := &turns{done: make([]chan struct{}, n), once: make([]sync.Once, n)}
	for i := range t.done {
		t.done[i] = make(chan struct{})
	}
	return t
}

type turnKey struct{}

type turn struct {
	t *turns
	i int
}

func withTurn(ctx context.Context, t *turns, i int) context.Context {
	return context.WithValue(ctx, turnKey{}, turn{t, i})
}

// awaitTurn waits until every earlier step has passed its turn.
func awaitTurn(ctx context.Context) error {
	tu, ok := ctx.Value(turnKey{}).(turn)
	if !ok {
		return nil
	}
	for j := range tu.i {
		select {
		case <-tu.t.done[j]:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// passTurn lets later steps ask; calling it again does nothing.
func passTurn(ctx context.Context) {
	if tu, ok := ctx.Value(turnKey{}).(turn); ok {
		tu.t.once[tu.i].Do(func() { close(tu.t.done[tu.i]) })
	}
}
