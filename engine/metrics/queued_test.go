package metrics_test

import (
	"context"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/metrics"
)

// TestStepsQueuedIsReported: the steps waiting for a worker, as the hub
// reports them, reach both the snapshot the TUI shows and the Prometheus
// gauge isolategpt_steps_queued.
func TestStepsQueuedIsReported(t *testing.T) {
	system := actor.NewActorSystem()
	t.Cleanup(system.Shutdown)
	status := func(context.Context) (*msg.StatusReply, error) {
		return &msg.StatusReply{Queued: 3, QueuedTotal: 7, MaxSpokes: 16, MaxSpokesPerUser: 4}, nil
	}
	c := metrics.New(system, status)
	defer c.Close()
	s := c.Snapshot(t.Context())
	if s.StepsQueued != 3 || s.StepsQueuedTotal != 7 || s.MaxWorkers != 16 || s.MaxWorkersPerUser != 4 {
		t.Fatalf("snapshot %+v", s)
	}
	families, err := c.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "isolategpt_steps_queued" {
			if got := f.GetMetric()[0].GetGauge().GetValue(); got != 3 {
				t.Fatalf("isolategpt_steps_queued = %v, want 3", got)
			}
			return
		}
	}
	t.Fatal("no isolategpt_steps_queued gauge")
}
