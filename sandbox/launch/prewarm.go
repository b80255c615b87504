package launch

import (
	"encoding/json"
	"strings"
	"sync"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

// pool holds, per app configuration, workers started ahead up to their
// confinement (Launcher.Prewarm of them: fully confined, their app not
// started): nothing of the app has run in
// them and no user's folder is in them yet, so any later Launch of the
// same configuration may take one, whoever it is for; the Launch that
// takes one binds it to its folder (one user's app) for good. Workers are
// started ahead for a configuration once it is wanted: after Warm, or at
// its second Launch, so that a process that starts an app once (a
// one-shot command) starts no worker it will not use.
type pool struct {
	mu       sync.Mutex
	idle     map[string][]*warm
	filling  map[string]int
	launches map[string]int
	closed   bool
	// starting counts the starts under way, for Close to wait for.
	starting sync.WaitGroup
	// handed counts the warm workers Launch took.
	handed int
}

// warmKey is what a warm worker must match: the app's whole configuration
// and its egress domains.
func warmKey(a sandbox.App, cfg worker.Config) string {
	b, _ := json.Marshal(cfg)
	return string(b) + "\x00" + strings.Join(a.Domains, ",")
}

// takeWarm hands out a prestarted worker for a, if one waits, and starts
// another in its place. Without Prewarm it does nothing.
func (l *Launcher) takeWarm(a sandbox.App, cfg worker.Config) *warm {
	if l.Prewarm <= 0 {
		return nil
	}
	key := warmKey(a, cfg)
	p := &l.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.init()
	var w *warm
	for len(p.idle[key]) > 0 && w == nil {
		ws := p.idle[key]
		w, p.idle[key] = ws[0], ws[1:]
		if !w.b.p.alive() {
			go w.abandon()
			w = nil
		}
	}
	if p.launches[key] < 2 {
		p.launches[key]++
	}
	if p.launches[key] >= 2 {
		l.fill(key, a, cfg)
	}
	if w != nil {
		p.handed++
	}
	return w
}

func (p *pool) init() {
	if p.idle == nil {
		p.idle, p.filling, p.launches = map[string][]*warm{}, map[string]int{}, map[string]int{}
	}
}

// waiting is how many warm workers wait for a's configuration, and how
// many Launch took so far.
func (l *Launcher) waiting(a sandbox.App) (idle, handed int) {
	cfg, err := l.appConfig(a)
	if err != nil {
		return 0, 0
	}
	l.pool.mu.Lock()
	defer l.pool.mu.Unlock()
	return len(l.pool.idle[warmKey(a, cfg)]), l.pool.handed
}

func (l *Launcher) refill(key string, a sandbox.App, cfg worker.Config) {
	w, err := l.prepare(a, cfg)
	p := &l.pool
	p.mu.Lock()
	p.filling[key]--
	if err != nil || p.closed {
		p.mu.Unlock()
		if err == nil {
			w.abandon()
		} else if l.Logger != nil {
			l.Logger.Info("could not prestart a worker", "app", a.ID, "err", err)
		}
		return
	}
	p.idle[key] = append(p.idle[key], w)
	p.mu.Unlock()
}

// Warm starts Prewarm workers for app ahead of its first Launch.
func (l *Launcher) Warm(a sandbox.App) error {
	cfg, err := l.appConfig(a)
	if err != nil {
		return err
	}
	if l.Prewarm <= 0 {
		return nil
	}
	p := &l.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	key := warmKey(a, cfg)
	p.launches[key] = 2
	l.fill(key, a, cfg)
	return nil
}

// fill starts workers until Prewarm are idle or on their way (p.mu held).
func (l *Launcher) fill(key string, a sandbox.App, cfg worker.Config) {
	p := &l.pool
	if p.closed {
		return
	}
	for n := len(p.idle[key]) + p.filling[key]; n < l.Prewarm; n++ {
		p.filling[key]++
		p.starting.Add(1)
		go func() {
			defer p.starting.Done()
			l.refill(key, a, cfg)
		}()
	}
}

// Close kills the workers started ahead, and those still starting once
// they are up, and stops starting more. Workers handed out stay theirs to
// close.
func (l *Launcher) Close() error {
	p := &l.pool
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, ws := range idle {
		for _, w := range ws {
			w.abandon()
		}
	}
	p.starting.Wait()
	return nil
}
