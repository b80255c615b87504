package egress

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLimiterBoundsAFlood(t *testing.T) {
	var mu sync.Mutex
	var got []Event
	l := NewLimiter(func(e Event) { mu.Lock(); got = append(got, e); mu.Unlock() }, 10, 100*time.Millisecond)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	// 1,000 refused attempts in 0.3 s, then one allowed tunnel.
	for i := range 1000 {
		now = now.Add(300 * time.Microsecond)
		l.Audit(Event{App: "flood", Host: "evil.net", Port: 443, Reason: "not a declared domain", BytesUp: int64(i % 2)})
	}
	l.Audit(Event{App: "flood", Host: "api.example.com", Port: 443, Allowed: true, Reason: ReasonOpened})
	l.Close()
	var passed, suppressed, summaries int
	for _, e := range got {
		if e.Suppressed > 0 {
			summaries++
			suppressed += e.Suppressed
			if e.App != "flood" || !strings.HasPrefix(e.Reason, ReasonSuppressed) {
				t.Errorf("summary %+v", e)
			}
			continue
		}
		passed++
	}
	// 10 of the burst and 3 refilled in 0.3 s; the rest summarised, none lost.
	if passed > 14 || summaries > 2 || passed+suppressed != 1001 {
		t.Errorf("%d passed, %d summaries holding %d: want at most 14 passed, 2 summaries, and all 1001 accounted for", passed, summaries, suppressed)
	}
	// A quiet worker loses nothing.
	got = nil
	l = NewLimiter(func(e Event) { got = append(got, e) }, 10, 100*time.Millisecond)
	for range 5 {
		l.Audit(Event{App: "quiet"})
	}
	l.Close()
	if len(got) != 5 {
		t.Errorf("%d events, want 5", len(got))
	}
}
