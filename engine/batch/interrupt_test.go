package batch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/batch"
)

// promptingSession asks one prompt per query, once the test lets it
// (go), through the prompter the runner gave it, and reports the step as
// the answer says.
type promptingSession struct {
	p       frontend.Prompter
	started chan<- string
	gate    <-chan struct{}
}

func (s promptingSession) Ask(ctx context.Context, q string) (*msg.Answer, error) {
	s.started <- q
	select {
	case <-s.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	d, err := s.p.Prompt(ctx, &msg.PromptRequest{Prompt: msg.Prompt{Kind: msg.Exec, App: "metro_hail", Function: "estimate_fare"}})
	if err != nil {
		return nil, err
	}
	st := msg.StatusOK
	if !d.Allows() {
		st = msg.StatusDenied
	}
	return &msg.Answer{Text: q, Steps: []msg.StepOutcome{{Step: "s1", Kind: "call", App: "metro_hail", Status: st}}}, nil
}

func (promptingSession) Close() error { return nil }

const twoLines = `{"id":"1","query":"a"}` + "\n" + `{"id":"2","query":"b"}` + "\n"

func allowAll(t *testing.T) *batch.Policy {
	t.Helper()
	return &batch.Policy{Default: msg.AllowOnce}
}

func results(t *testing.T, out *bytes.Buffer) []batch.Output {
	t.Helper()
	var os []batch.Output
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l == "" {
			continue
		}
		var o batch.Output
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		os = append(os, o)
	}
	return os
}

// An interrupt while a line runs lets it finish with its prompt denied,
// and reads no further line. With no Stop (the interrupt switched off)
// the same prompt is allowed and the next line runs.
func TestInterruptFinishesTheLineInFlight(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(map[bool]string{true: "interrupt", false: "no interrupt"}[on], func(t *testing.T) {
			started, gate, stop := make(chan string, 2), make(chan struct{}), make(chan struct{})
			r := &batch.Runner{Policy: allowAll(t), DefaultUser: "ann", Open: func(_ context.Context, _ string, p frontend.Prompter) (batch.Session, error) {
				return promptingSession{p: p, started: started, gate: gate}, nil
			}}
			if on {
				r.Stop = stop
			}
			var out bytes.Buffer
			type ran struct {
				sum batch.Summary
				err error
			}
			done := make(chan ran, 1)
			go func() {
				sum, err := r.Run(t.Context(), strings.NewReader(twoLines), &out)
				done <- ran{sum, err}
			}()
			if q := <-started; q != "a" {
				t.Fatalf("first query %q", q)
			}
			close(stop) // the signal, while line 1 runs
			close(gate)
			var res ran
			select {
			case res = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the batch did not end")
			}
			got := results(t, &out)
			if on {
				if res.err != nil || !res.sum.Interrupted || res.sum.Worst != msg.Interrupted || len(got) != 1 ||
					got[0].Status != msg.Interrupted || got[0].Steps[0].Status != msg.StatusDenied {
					t.Errorf("summary %+v %v, lines %+v: want line 1 interrupted with its prompt denied, and no line 2", res.sum, res.err, got)
				}
				return
			}
			if res.err != nil || res.sum.Interrupted || len(got) != 2 || got[0].Status != msg.Done || got[1].Status != msg.Done {
				t.Errorf("summary %+v %v, lines %+v: want both lines done", res.sum, res.err, got)
			}
		})
	}
}

// Ending Run's context (the second signal) abandons the line in flight:
// it is interrupted, and Run returns at once.
func TestSecondInterruptAbortsTheLineInFlight(t *testing.T) {
	started, gate := make(chan string, 2), make(chan struct{})
	r := &batch.Runner{Policy: allowAll(t), DefaultUser: "ann", Stop: make(chan struct{}), Open: func(_ context.Context, _ string, p frontend.Prompter) (batch.Session, error) {
		return promptingSession{p: p, started: started, gate: gate}, nil
	}}
	ctx, cancel := context.WithCancel(t.Context())
	var out bytes.Buffer
	done := make(chan batch.Summary, 1)
	go func() {
		sum, _ := r.Run(ctx, strings.NewReader(twoLines), &out)
		done <- sum
	}()
	<-started
	cancel()
	var sum batch.Summary
	select {
	case sum = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the batch did not end")
	}
	got := results(t, &out)
	if !sum.Interrupted || len(got) != 1 || got[0].Status != msg.Interrupted || got[0].Error == "" {
		t.Errorf("summary %+v, lines %+v: want line 1 interrupted with the reason", sum, got)
	}
}
