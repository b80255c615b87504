package batch_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/batch"
	"github.com/isolategpt/isolategpt/engine/store"
)

// faultSession answers as the query actor does when a write step ran but
// its outcome record hit a full disk (a fault-injected writer), or when a
// step could not start because its start could not be recorded.
type faultSession struct{}

func (faultSession) Ask(_ context.Context, q string) (*msg.Answer, error) {
	full := &store.DiskFullError{Dir: "/data/store", Free: 1 << 10, Need: 128 << 20}
	switch q {
	case "outcome lost":
		err := fmt.Errorf("audit log: step s1: its outcome could not be recorded: audit outcome alice: %w", full)
		return &msg.Answer{Status: msg.Interrupted, Text: "withheld", Store: err}, err
	case "start refused":
		// The step did not run; the answer is given, its status failed.
		return &msg.Answer{Status: msg.Failed, Store: fmt.Errorf("audit intent alice: %w", full)}, nil
	}
	return &msg.Answer{Status: msg.Done}, nil
}

func (faultSession) Close() error { return nil }

// TestStoreFaultsAreCountedAndNamed: a line a full disk kept from being
// done is not done, names the full disk, and the summary counts it for the
// store's exit code; a done line is not counted.
func TestStoreFaultsAreCountedAndNamed(t *testing.T) {
	r := &batch.Runner{DefaultUser: "alice", Open: func(context.Context, string, frontend.Prompter) (batch.Session, error) {
		return faultSession{}, nil
	}}
	in := `{"id":"1","query":"outcome lost"}` + "\n" + `{"id":"2","query":"start refused"}` + "\n" + `{"id":"3","query":"fine"}` + "\n"
	var out bytes.Buffer
	sum, err := r.Run(t.Context(), strings.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	res := results(t, &out)
	if res[0].Status != msg.Interrupted || !strings.Contains(res[0].Error, "disk full") {
		t.Errorf("outcome lost: %+v", res[0])
	}
	if res[1].Status != msg.Failed || res[2].Status != msg.Done {
		t.Errorf("statuses %s, %s", res[1].Status, res[2].Status)
	}
	if sum.StoreFaults != 2 || !strings.Contains(sum.String(), "2 stopped by the store") {
		t.Errorf("summary %+v: %s", sum, sum)
	}
}
