package scale

import (
	"fmt"
	"strings"
	"time"
)

// Table renders a run as Markdown: one row per (S, mode), the sandboxed
// throughput as a ratio of the in-process one at the same S, and the
// worker-start column.
func (r *Result) Table() string {
	var b strings.Builder
	b.WriteString("| S | apps | users | answered | failed | q/s | × in-process | p50 | p99 | hub RSS peak | live workers peak | hub's processes peak | workers started | queries queued | steps queued | hub threads peak | hub fds peak | hub CPU per query | hub + workers CPU per query |\n")
	b.WriteString("|--:|------|------:|---------:|-------:|----:|-------------:|----:|----:|-------------:|-----------------:|---------------------:|----------------:|---------------:|-------------:|-----------------:|-------------:|--:|--:|\n")
	inproc := map[int]float64{}
	for _, row := range r.Rows {
		if row.Mode == InProcess {
			inproc[row.Sessions] = row.Throughput
		}
	}
	for _, row := range r.Rows {
		ratio := "—"
		if base := inproc[row.Sessions]; base > 0 && row.Mode != InProcess {
			ratio = fmt.Sprintf("%.2f×", row.Throughput/base)
		}
		procs := "—"
		if row.Mode == Sandboxed {
			procs = fmt.Sprint(row.PeakProcs)
		}
		perQuery := func(d time.Duration) string {
			if row.Answered == 0 {
				return "—"
			}
			return ms(d / time.Duration(row.Answered))
		}
		fmt.Fprintf(&b, "| %d | %s | %d | %d | %d | %.1f | %s | %s | %s | %d MiB | %d | %s | %d | %d | %d | %d | %d | %s | %s |\n",
			row.Sessions, row.Mode, row.Users, row.Answered, row.Failed, row.Throughput, ratio,
			ms(row.P50), ms(row.P99), row.PeakRSS>>20, row.PeakWorkers, procs, row.Started, row.QueriesQueued, row.Queued, row.PeakThr, row.PeakFDs, perQuery(row.HubCPU), perQuery(row.TreeCPU))
	}
	for _, row := range r.Rows {
		if row.FirstErr != "" {
			fmt.Fprintf(&b, "\nS=%d %s, first failure: %s\n", row.Sessions, row.Mode, row.FirstErr)
		}
	}
	b.WriteString("\nWorker start cost at N live workers:\n\n")
	if len(r.StartCosts) > 0 {
		b.WriteString("| live workers | sandboxed start | unconfined start | × unconfined | hub CPU per start | × at the first N | hub threads | hub fds |\n|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		first := r.StartCosts[0].Sandboxed
		for _, c := range r.StartCosts {
			vsUnconf, vsFirst := "—", "—"
			if c.Unconfined > 0 {
				vsUnconf = fmt.Sprintf("%.2f×", float64(c.Sandboxed)/float64(c.Unconfined))
			}
			if first > 0 {
				vsFirst = fmt.Sprintf("%.2f×", float64(c.Sandboxed)/float64(first))
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %d | %d |\n", c.Live, ms(c.Sandboxed), ms(c.Unconfined), vsUnconf, ms(c.HubCPU), vsFirst, c.HubThreads, c.HubFDs)
		}
	}
	if r.StartCostNote != "" {
		fmt.Fprintf(&b, "%s\n", r.StartCostNote)
	}
	return b.String()
}

func ms(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	if d < 10*time.Second {
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
