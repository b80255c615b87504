package engine

import (
	"os"
	"sort"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/llm/scripted"
	"github.com/isolategpt/isolategpt/sandbox/inproc"
)

// BenchmarkQueryTwoApps measures the engine's own overhead per query: a
// zero-latency scripted planner, two in-process apps estimating fares
// concurrently, the hub's min operator, session grants after the first
// query, and the audit log and hub memory written to Badger on disk. It
// reports the median (p50-µs) and 90th percentile (p90-µs) per query.
func BenchmarkQueryTwoApps(b *testing.B) {
	plan := `{"steps": [
	 {"id": "m", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": "Main Street", "end_point": "Elm Avenue"}},
	 {"id": "q", "app": "quick_ride", "function": "estimate_fare", "args": {"start_point": "Main Street", "end_point": "Elm Avenue"}},
	 {"id": "low", "op": "min", "of": ["m", "q"], "field": "fare"}],
	 "answer": "metro_hail {{m.fare}}, quick_ride {{q.fare}}, lowest {{low.value}} from {{low.app}}"}`
	model := scripted.New(scripted.Rule{Match: scripted.Always, Reply: scripted.Text(plan)})
	e, err := New(Config{DataDir: b.TempDir(), Model: model, Launcher: inproc.Launcher{}})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	s, err := e.OpenSession(b.Context(), "bench", &recorder{decide: func(msg.Prompt) msg.Decision { return msg.AllowSession }})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// Warm up: grants, spokes and apps are in place before timing.
	if _, err := s.Ask(b.Context(), "fares"); err != nil {
		b.Fatal(err)
	}
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		a, err := s.Ask(b.Context(), "fares")
		durations = append(durations, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if a.Steps[2].App != "metro_hail" {
			b.Fatalf("operator chose %q", a.Steps[2].App)
		}
	}
	b.StopTimer()
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	pct := func(p float64) float64 {
		return float64(durations[int(p*float64(len(durations)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.5), "p50-µs")
	b.ReportMetric(pct(0.9), "p90-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(pct(1), "max-µs")
	if os.Getenv("BENCH_TAIL") != "" && len(durations) >= 5 {
		b.Logf("slowest: %v", durations[len(durations)-5:])
	}
}
