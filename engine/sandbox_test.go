package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/inproc"
	"github.com/isolategpt/isolategpt/sandbox/launch"
	"github.com/isolategpt/isolategpt/sandbox/wire"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

// hogApp stands in for a misbehaving app: every call answers 2 MiB, past
// the hub's output cap. The launcher serves it, in a real worker, in place
// of the app named by hogLauncher.
const hogApp = "test_output_hog"

func init() {
	worker.Register(hogApp, func() (wire.Handler, error) {
		obj := json.RawMessage(`{"type":"object"}`)
		tools := []sandbox.Tool{{Name: "estimate_fare", InputSchema: obj}, {Name: "book_ride", InputSchema: obj}}
		return wire.NewToolServer(tools, func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
			return json.Marshal(map[string]string{"text": strings.Repeat("x", 2<<20)})
		}), nil
	})
}

// hogLauncher runs every app in a real confined worker, app as hogApp.
type hogLauncher struct {
	app string
	l   *launch.Launcher
}

func (h hogLauncher) Launch(ctx context.Context, app sandbox.App, dir string) (sandbox.Conn, error) {
	if app.ID == h.app {
		app.ID = hogApp
	}
	return h.l.Launch(ctx, app, dir)
}

// A worker killed by a sandbox limit fails its own step only: the other
// app of the same query answers, the death is audited, and the next query
// gets a fresh worker.
func TestAWorkerKilledByALimitFailsOnlyItsStep(t *testing.T) {
	e := newEngine(t, Config{Launcher: hogLauncher{app: "quick_ride", l: &launch.Launcher{}}})
	s := session(t, e, "alice", &recorder{})
	a, err := s.Ask(t.Context(), rideQuery)
	if err != nil && a == nil {
		t.Fatal(err)
	}
	if st := stepOf(t, a, "s1"); st.App != "metro_hail" || st.Status != msg.StatusOK {
		t.Errorf("metro_hail's step: %+v", st)
	}
	st := stepOf(t, a, "s2")
	if st.App != "quick_ride" || st.Status != msg.StatusFailed || !strings.Contains(st.Reason, "byte limit") {
		t.Errorf("quick_ride's step: %+v, want it failed naming the output limit", st)
	}
	var crashed bool
	for _, r := range audit(t, e, "alice") {
		crashed = crashed || (r.Kind == "crash" && r.App == "quick_ride" && strings.Contains(string(r.Detail), "byte limit"))
	}
	if !crashed {
		t.Error("the killed worker is not in the audit log")
	}
	a, err = s.Ask(t.Context(), `Use metro_hail to estimate the fare from "A" to "B"`)
	if err != nil {
		t.Fatal(err)
	}
	if st := stepOf(t, a, "s1"); st.Status != msg.StatusOK {
		t.Errorf("the hub stopped answering after a worker died: %+v", st)
	}
}

// The engine tells its front ends every layer of the apps' sandbox (the TUI
// names the missing ones): with workers, every layer, found by a probe
// before the first app starts; in process, none.
func TestSandboxStatusReportsEveryLayer(t *testing.T) {
	e := newEngine(t, Config{AllowWeakerSandbox: true})
	layers := e.SandboxStatus(t.Context())
	var names []string
	for _, l := range layers {
		names = append(names, l.Name)
	}
	if strings.Join(names, ",") != strings.Join(sandbox.LayerOrder, ",") {
		t.Errorf("layers %v, want %v", names, sandbox.LayerOrder)
	}
	if ls := newEngine(t, Config{Launcher: inproc.Launcher{}}).SandboxStatus(t.Context()); ls != nil {
		t.Errorf("in-process apps report sandbox layers: %+v", ls)
	}
}
