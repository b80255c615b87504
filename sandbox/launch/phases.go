package launch

import (
	"sync"
	"time"
)

// phases, when set (measurements only: TestStartPhases), is told how long
// each step of a worker start took, in the order they run.
var phases struct {
	mu  sync.Mutex
	see func(step string, d time.Duration)
}

// phaseMarker returns a function that reports the time since the previous
// mark as step; a no-op unless a measurement listens.
func phaseMarker() func(step string) {
	phases.mu.Lock()
	see := phases.see
	phases.mu.Unlock()
	if see == nil {
		return func(string) {}
	}
	last := time.Now()
	return func(step string) {
		now := time.Now()
		see(step, now.Sub(last))
		last = now
	}
}
