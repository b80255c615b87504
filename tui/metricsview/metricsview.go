// Package metricsview renders the TUI's metrics panel from a snapshot of
// engine/metrics: supervisor, sandbox, step, permission and model counters.
package metricsview

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/isolategpt/isolategpt/engine/metrics"
	"github.com/isolategpt/isolategpt/tui/safe"
)

var head = lipgloss.NewStyle().Bold(true)

// View renders s in width×height cells. addr is where /metrics is served
// ("" when it is not).
func View(s metrics.Snapshot, addr string, width, height int) string {
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	lines = append(lines, head.Render("supervisor"))
	add("  spokes started %d · alive %d · crashes %d · restarts %d", s.SpokesStarted, s.SpokesLive, s.Crashes, s.Restarts)
	add("  calls in flight per spoke: %s · hub answers a status request in %s", counts(s.InFlight, "none"), short(s.HubWait))
	add("  messages waiting in mailboxes: %s", counts(s.Mailboxes, "none"))
	if s.StepsQueued > 0 || s.StepsQueuedTotal > 0 {
		// Admission control: the pool of workers is at its cap.
		add("  steps queued for a worker %d now · %d in all (cap %d workers, %d per user)", s.StepsQueued, s.StepsQueuedTotal, s.MaxWorkers, s.MaxWorkersPerUser)
	}
	if s.QueriesQueued > 0 || s.QueriesQueuedTotal > 0 {
		add("  queries waiting to start %d now · %d in all (cap %d running)", s.QueriesQueued, s.QueriesQueuedTotal, s.MaxQueries)
	}
	lines = append(lines, head.Render("sandbox"))
	add("  workers started %d · killed: %s", s.WorkersStarted, counts(s.Kills, "none"))
	add("    (by limit: timeout %d, output %d, memory %d · by seccomp %d · crashed %d)",
		s.Kills["timeout"], s.Kills["output"], s.Kills["memory"], s.Kills["seccomp"], s.Kills["crash"])
	lines = append(lines, head.Render("queries and model"))
	add("  queries %d (failed %d) · LLM calls %d · tokens %d prompt + %d completion",
		s.Queries, s.Failed, s.LLMCalls, s.Tokens.PromptTokens, s.Tokens.CompletionTokens)
	add("  steps: %s · ISC: %s", counts(s.Steps, "none"), counts(s.ISC, "none"))
	add("  permissions: %s", counts(s.Permissions, "none"))
	lines = append(lines, head.Render(fmt.Sprintf("step latency %-20s %5s %10s %10s %10s %12s", "", "n", "last", "mean", "max", "exec mean")))
	for _, name := range slices.Sorted(maps.Keys(s.Latency)) {
		l := s.Latency[name]
		exec := "-"
		if l.ExecCount > 0 {
			exec = short(l.ExecMean())
		}
		add("  %-32s %5d %10s %10s %10s %12s", safe.Cut(name, 32), l.Count, short(l.Last), short(l.Mean()), short(l.Max), exec)
	}
	if len(s.Latency) > 0 {
		add("  %s", "(a step's time includes the wait for your answer; exec: from the hub routing it to its result)")
	}
	if len(s.Latency) == 0 {
		add("  no steps yet")
	}
	lines = append(lines, "")
	if addr != "" {
		add("Prometheus: http://%s/metrics", addr)
	} else {
		add("Prometheus export: start with --metrics-addr ADDR")
	}
	if len(lines) > height {
		lines = lines[:height]
	}
	for i, l := range lines {
		lines[i] = safe.Cut(l, width)
	}
	return strings.Join(lines, "\n")
}

func counts(m map[string]int, none string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return none
	}
	return strings.Join(parts, ", ")
}

func short(d time.Duration) string {
	if d >= time.Millisecond {
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}
