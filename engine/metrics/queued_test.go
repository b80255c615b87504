package metrics_test

import (
	"context"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/metrics"
)

// TestStepsQueuedIsReported: the steps waiting for a worker and the
// queries waiting to be admitted, as the hub reports them, reach both the
// snapshot the TUI shows and the Prometheus gauges isolategpt_steps_queued
// and isolategpt_queries_queued.
func TestStepsQueuedIsReported(t *testing.T) {
	system := actor.NewActorSystem()
	t.Cleanup(system.Shutdown)
	status := func(context.Context) (*msg.StatusReply, error) {
		return &msg.StatusReply{Queued: 3, QueuedTotal: 7, MaxSpokes: 16, MaxSpokesPerUser: 4, QueriesQueued: 5, QueriesQueuedTotal: 9, MaxQueries: 8}, nil
	}
	c := metrics.New(system, status)
	defer c.Close()
	s := c.Snapshot(t.Context())
	if s.StepsQueued != 3 || s.StepsQueuedTotal != 7 || s.MaxWorkers != 16 || s.MaxWorkersPerUser != 4 ||
		s.QueriesQueued != 5 || s.QueriesQueuedTotal != 9 || s.MaxQueries != 8 {
		t.Fatalf("snapshot %+v", s)
	}
	families, err := c.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"isolategpt_steps_queued": 3, "isolategpt_queries_queued": 5}
	for _, f := range families {
		if w, ok := want[f.GetName()]; ok {
			if got := f.GetMetric()[0].GetGauge().GetValue(); got != w {
				t.Fatalf("%s = %v, want %v", f.GetName(), got, w)
			}
			delete(want, f.GetName())
		}
	}
	if len(want) > 0 {
		t.Fatalf("gauges missing: %v", want)
	}
}
