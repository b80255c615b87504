package metrics_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/metrics"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/inproc"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

// TestMain lets this binary serve as the sandbox worker for the test that
// runs real sandboxed apps.
func TestMain(m *testing.M) {
	if code, ok := worker.Dispatch(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

var allowOnce = frontend.PrompterFunc(func(context.Context, *msg.PromptRequest) (msg.Decision, error) {
	return msg.AllowOnce, nil
})

func start(t *testing.T, l sandbox.Launcher) (*engine.Engine, *metrics.Collector, *engine.Session) {
	t.Helper()
	e, err := engine.New(engine.Config{DataDir: t.TempDir(), LLM: "offline", Launcher: l})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	c := metrics.New(e.System(), e.Status)
	t.Cleanup(c.Close)
	s, err := e.OpenSession(t.Context(), "alice", allowOnce)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return e, c, s
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func requireLines(t *testing.T, text string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(text, "\n"+l+"\n") {
			t.Errorf("scrape lacks %q", l)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", text)
	}
}

const rideQuery = `Use metro_hail and quick_ride to book the cheapest ride from "Main Street" to "Elm Avenue"`

// After one query, a scrape shows the spokes started, the steps, the
// permission decisions and the model's calls.
func TestScrapeAfterAQuery(t *testing.T) {
	_, c, s := start(t, inproc.Launcher{})
	a, err := s.Ask(t.Context(), rideQuery)
	if err != nil {
		t.Fatal(err)
	}
	if a.Usage.Calls < 1 {
		t.Fatalf("the answer reports %d model calls", a.Usage.Calls)
	}
	text := scrape(t, c.Handler())
	requireLines(t, text,
		`isolategpt_spokes_started_total{app="metro_hail"} 1`,
		`isolategpt_spokes_started_total{app="quick_ride"} 1`,
		`isolategpt_spokes_live 2`,
		`isolategpt_workers_started_total{app="metro_hail"} 1`,
		`isolategpt_steps_total{app="metro_hail",status="ok"} 2`,
		`isolategpt_steps_total{app="quick_ride",status="ok"} 1`,
		`isolategpt_steps_total{app="hub",status="ok"} 1`,
		`isolategpt_step_duration_seconds_count{app="metro_hail"} 2`,
		`isolategpt_step_exec_seconds_count{app="metro_hail"} 2`,
		`isolategpt_permission_decisions_total{asked="true",decision="allow_once",kind="exec"} 3`,
		`isolategpt_queries_total{outcome="answered"} 1`,
		`isolategpt_llm_calls_total `+itoa(a.Usage.Calls),
		`isolategpt_spoke_calls_in_flight{app="metro_hail"} 0`,
		`isolategpt_mailbox_messages{actor="hub",app=""} 0`,
		`isolategpt_mailbox_messages{actor="permission",app=""} 0`,
		`isolategpt_mailbox_messages{actor="spoke",app="metro_hail"} 0`,
	)
	snap := c.Snapshot(t.Context())
	if !strings.Contains(text, "\nisolategpt_hub_status_seconds ") {
		t.Error("scrape lacks isolategpt_hub_status_seconds")
	}
	if strings.Contains(text, `isolategpt_step_exec_seconds_count{app="hub"}`) {
		t.Error("a hub operator, never routed to a spoke, has an exec latency")
	}
	if snap.SpokesStarted != 2 || snap.Steps[msg.StatusOK] != 4 || snap.LLMCalls != a.Usage.Calls || snap.Latency["metro_hail.book_ride"].Count != 1 {
		t.Errorf("snapshot %+v", snap)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// A worker killed by seccomp is counted as a kill by seccomp, a spoke
// crash and a supervisor restart; the next query starts a fresh worker.
func TestKillsCrashesAndRestarts(t *testing.T) {
	_, c, s := start(t, &inproc.FailFirst{Fail: func() (json.RawMessage, error) {
		return nil, &sandbox.DeadError{Cause: sandbox.CauseSeccomp, Msg: "worker killed: forbidden system call"}
	}})
	q := `Use metro_hail to estimate the fare from "A" to "B"`
	if _, err := s.Ask(t.Context(), q); err != nil {
		t.Fatal(err)
	}
	a, err := s.Ask(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if a.Steps[0].Status != msg.StatusOK {
		t.Fatalf("second query: %+v", a.Steps)
	}
	text := scrape(t, c.Handler())
	requireLines(t, text,
		`isolategpt_worker_kills_total{app="metro_hail",cause="seccomp"} 1`,
		`isolategpt_spoke_crashes_total{app="metro_hail"} 1`,
		`isolategpt_actor_restarts_total{actor="spoke",app="metro_hail"} 1`,
		`isolategpt_workers_started_total{app="metro_hail"} 2`,
		`isolategpt_steps_total{app="metro_hail",status="failed"} 1`,
		`isolategpt_steps_total{app="metro_hail",status="ok"} 1`,
	)
}

// --metrics-addr serves /metrics over HTTP.
func TestServe(t *testing.T) {
	_, c, s := start(t, inproc.Launcher{})
	if _, err := s.Ask(t.Context(), `Use metro_hail to estimate the fare from "A" to "B"`); err != nil {
		t.Fatal(err)
	}
	srv, err := c.Serve("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	res, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), `isolategpt_spokes_started_total{app="metro_hail"} 1`) {
		t.Fatalf("GET /metrics: %s\n%s", res.Status, b)
	}
	if _, err := c.Serve(srv.Addr(), nil); err == nil {
		t.Fatal("a second server on the same address started")
	}
}

// With real sandboxed workers, the worker's pid reaches observers and the
// worker is counted.
func TestRealWorker(t *testing.T) {
	e, c, s := start(t, nil)
	pids := make(chan int, 16)
	sub := e.System().EventStream.Subscribe(func(ev any) {
		if w, ok := ev.(*msg.WorkerChanged); ok && w.State == msg.WorkerReady {
			pids <- w.PID
		}
	})
	defer e.System().EventStream.Unsubscribe(sub)
	a, err := s.Ask(t.Context(), `Use metro_hail to estimate the fare from "A" to "B"`)
	if err != nil {
		t.Fatal(err)
	}
	if a.Steps[0].Status != msg.StatusOK {
		t.Fatalf("step: %+v", a.Steps[0])
	}
	select {
	case pid := <-pids:
		if pid <= 0 || pid == os.Getpid() {
			t.Fatalf("worker ready with pid %d (hub is %d)", pid, os.Getpid())
		}
	default:
		t.Fatal("no worker ready event")
	}
	requireLines(t, scrape(t, c.Handler()), `isolategpt_workers_started_total{app="metro_hail"} 1`)
}

// A spoke stopped when idle leaves the live count.
func TestIdleSpokeLeavesTheLiveCount(t *testing.T) {
	e, err := engine.New(engine.Config{DataDir: t.TempDir(), LLM: "offline", Launcher: inproc.Launcher{}, SpokeIdle: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	c := metrics.New(e.System(), e.Status)
	t.Cleanup(c.Close)
	stopped := make(chan *msg.SpokeStopped, 4)
	sub := e.System().EventStream.Subscribe(func(ev any) {
		if s, ok := ev.(*msg.SpokeStopped); ok {
			stopped <- s
		}
	})
	defer e.System().EventStream.Unsubscribe(sub)
	s, err := e.OpenSession(t.Context(), "alice", allowOnce)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Ask(t.Context(), `Use metro_hail to estimate the fare from "A" to "B"`); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-stopped:
		if ev.App != "metro_hail" || ev.Reason != "idle" {
			t.Fatalf("stopped event %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the idle spoke was not stopped within 10s")
	}
	if snap := c.Snapshot(t.Context()); snap.SpokesStarted != 1 || snap.SpokesLive != 0 {
		t.Fatalf("snapshot: started %d, live %d; want 1, 0", snap.SpokesStarted, snap.SpokesLive)
	}
	requireLines(t, scrape(t, c.Handler()), `isolategpt_spokes_live 0`)
}
