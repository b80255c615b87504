package egress

import (
	"fmt"
	"sync"
	"time"
)

// ReasonSuppressed starts the Reason of a summary Event: the events a
// Limiter held back, counted.
const ReasonSuppressed = "events suppressed by the audit rate limit"

// Default audit rate of one worker: a burst, then a steady rate.
const (
	DefaultAuditBurst = 32
	DefaultAuditEvery = 200 * time.Millisecond
	summaryEvery      = time.Second
)

// Limiter passes one worker's egress Events on at a bounded rate, so an
// app that hammers its proxy cannot flood the audit log: a burst, then one
// per interval. What it holds back it counts, and passes on as one summary
// Event (Suppressed > 0) at most once a second while it holds events back,
// and at Close.
type Limiter struct {
	audit func(Event)
	burst float64
	every time.Duration
	now   func() time.Time

	mu       sync.Mutex
	tokens   float64
	last     time.Time // of the last refill
	summary  Event
	lastSent time.Time
	refused  int
	closed   bool
}

// NewLimiter limits the Events passed to audit (burst and every <= 0 take
// the defaults).
func NewLimiter(audit func(Event), burst int, every time.Duration) *Limiter {
	if burst <= 0 {
		burst = DefaultAuditBurst
	}
	if every <= 0 {
		every = DefaultAuditEvery
	}
	return &Limiter{audit: audit, burst: float64(burst), every: every, now: time.Now, tokens: float64(burst)}
}

// Audit takes one Event.
func (l *Limiter) Audit(e Event) {
	l.mu.Lock()
	now := l.now()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+float64(now.Sub(l.last))/float64(l.every))
	}
	l.last = now
	if l.tokens >= 1 && !l.closed {
		l.tokens--
		l.mu.Unlock()
		l.audit(e)
		return
	}
	l.hold(e)
	var out *Event
	if now.Sub(l.lastSent) >= summaryEvery {
		out = l.take(now)
	}
	l.mu.Unlock()
	if out != nil {
		l.audit(*out)
	}
}

// Close passes on the summary of what is still held back; later Events
// are only counted.
func (l *Limiter) Close() {
	l.mu.Lock()
	l.closed = true
	out := l.take(l.now())
	l.mu.Unlock()
	if out != nil {
		l.audit(*out)
	}
}

func (l *Limiter) hold(e Event) {
	s := &l.summary
	if s.Suppressed == 0 {
		s.App = e.App
	}
	s.Suppressed++
	if !e.Allowed {
		l.refused++
	}
	s.BytesUp += e.BytesUp
	s.BytesDown += e.BytesDown
	s.Host, s.Port, s.Addr = e.Host, e.Port, e.Addr
	last := "allowed"
	if !e.Allowed {
		last = "refused"
	}
	s.Reason = fmt.Sprintf("%s: %d events (%d refused); the last %s %s:%d: %s", ReasonSuppressed, s.Suppressed, l.refused, last, e.Host, e.Port, e.Reason)
}

// take returns the pending summary and starts a new one.
func (l *Limiter) take(now time.Time) *Event {
	if l.summary.Suppressed == 0 {
		return nil
	}
	out := l.summary
	out.At = now
	l.summary, l.refused, l.lastSent = Event{}, 0, now
	return &out
}
