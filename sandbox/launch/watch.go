package launch

import (
	"sync"
	"time"
)

// Watcher timing: a worker in a call has its group limits read every
// watchTick; an idle one at least every idleRound (its CPU is capped by
// its group's bandwidth meanwhile, so it can overshoot its CPU time by at
// most that much). Reading every worker's counters every tick would cost
// the hub a core at a few thousand workers.
const (
	watchTick = 100 * time.Millisecond
	idleRound = 2 * time.Second
)

// watcher is the one goroutine that enforces every live worker's group
// limits, instead of a goroutine (and a timer) each.
type watcher struct {
	mu      sync.Mutex
	procs   []*proc
	cursor  int
	running bool
}

var limits watcher

func (w *watcher) add(p *proc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.procs = append(w.procs, p)
	if !w.running {
		w.running = true
		go w.loop()
	}
}

func (w *watcher) loop() {
	t := time.NewTicker(watchTick)
	defer t.Stop()
	for range t.C {
		due, more := w.due()
		if !more {
			return
		}
		for _, p := range due {
			p.check()
		}
	}
}

// due drops the workers that are gone and picks those to look at this
// tick: every busy one, and the next share of the idle ones.
func (w *watcher) due() ([]*proc, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	live := w.procs[:0]
	for _, p := range w.procs {
		if p.alive() {
			live = append(live, p)
		}
	}
	clear(w.procs[len(live):])
	w.procs = live
	if len(live) == 0 {
		w.running = false
		return nil, false
	}
	var due []*proc
	share := len(live)*int(watchTick)/int(idleRound) + 1
	if w.cursor >= len(live) {
		w.cursor = 0
	}
	for i, p := range live {
		if p.busy.Load() > 0 {
			due = append(due, p)
			continue
		}
		if d := (i - w.cursor + len(live)) % len(live); d < share {
			due = append(due, p)
		}
	}
	w.cursor = (w.cursor + share) % len(live)
	return due, true
}
