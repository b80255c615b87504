package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/llm"
	"github.com/isolategpt/isolategpt/engine/llm/scripted"
	"github.com/isolategpt/isolategpt/engine/store"
)

// recorder is a front end that records every prompt and answers with decide.
type recorder struct {
	mu      sync.Mutex
	prompts []msg.Prompt
	decide  func(msg.Prompt) msg.Decision
}

func (r *recorder) Prompt(ctx context.Context, req *msg.PromptRequest) (msg.Decision, error) {
	r.mu.Lock()
	r.prompts = append(r.prompts, req.Prompt)
	r.mu.Unlock()
	if r.decide == nil {
		return msg.AllowOnce, nil
	}
	return r.decide(req.Prompt), nil
}

func (r *recorder) list() []msg.Prompt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]msg.Prompt(nil), r.prompts...)
}

// count counts the prompts about a flow ("exec:app.function",
// "collab:requester>app.function", …: msg.Prompt.LegacyKey).
func (r *recorder) count(key string) int {
	n := 0
	for _, p := range r.list() {
		if p.LegacyKey() == key {
			n++
		}
	}
	return n
}

func newEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Model != nil && cfg.ModelInfo.Provider == "" {
		cfg.ModelInfo = llm.Info{Provider: "scripted", Model: "test"}
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func session(t *testing.T, e *Engine, user string, p frontend.Prompter) *Session {
	t.Helper()
	s, err := e.OpenSession(t.Context(), user, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func stepOf(t *testing.T, a *msg.Answer, id string) msg.StepOutcome {
	t.Helper()
	for _, s := range a.Steps {
		if s.Step == id {
			return s
		}
	}
	t.Fatalf("answer has no step %q: %+v", id, a.Steps)
	return msg.StepOutcome{}
}

func audit(t *testing.T, e *Engine, user string) []store.AuditRecord {
	t.Helper()
	var out []store.AuditRecord
	if err := e.Store().AuditLog(user, func(r store.AuditRecord) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

const rideQuery = `Use metro_hail and quick_ride to book the cheapest ride from "Main Street" to "Elm Avenue"`

func TestOfflineRideEndToEnd(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, Config{DataDir: dir})
	rec := &recorder{}
	s := session(t, e, "alice", rec)
	a, err := s.Ask(t.Context(), rideQuery)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"metro_hail fare: 51.8", "quick_ride fare: 57", `Lowest fare: 51.8 from "metro_hail"`, "offline model"} {
		if !strings.Contains(a.Text, want) {
			t.Errorf("answer lacks %q:\n%s", want, a.Text)
		}
	}
	if !a.Offline {
		t.Error("answer not marked offline")
	}
	book := stepOf(t, a, "act")
	if book.App != "metro_hail" || book.Function != "book_ride" || book.Status != msg.StatusOK {
		t.Fatalf("booking step %+v", book)
	}
	// The booking landed in metro_hail's own folder, and only there.
	if _, err := os.Stat(filepath.Join(dir, "apps", "alice", "metro_hail", "bookings.jsonl")); err != nil {
		t.Errorf("no booking in metro_hail's folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "apps", "alice", "quick_ride", "bookings.jsonl")); err == nil {
		t.Error("quick_ride recorded a booking")
	}
	if got := len(rec.list()); got != 3 {
		t.Errorf("%d prompts, want 3 (two estimates, one booking): %+v", got, rec.list())
	}
	kinds := map[string]int{}
	for _, r := range audit(t, e, "alice") {
		kinds[r.Kind+":"+r.Outcome]++
	}
	for _, want := range []string{"plan:accepted", "step:ok", "permission:allow_once", "answer:answered"} {
		if kinds[want] == 0 {
			t.Errorf("audit has no %s record: %v", want, kinds)
		}
	}
	if kinds["step:ok"] != 4 {
		t.Errorf("audit has %d ok steps, want 4", kinds["step:ok"])
	}
}

func TestPermissionDurationsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	const query = `Use metro_hail and quick_ride to estimate the fare from "A St" to "B Ave"`
	decide := func(p msg.Prompt) msg.Decision {
		if p.App == "metro_hail" {
			return msg.AllowAlways
		}
		return msg.AllowSession
	}
	e1, err := New(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	rec1 := &recorder{decide: decide}
	s1, err := e1.OpenSession(t.Context(), "alice", rec1)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := s1.Ask(t.Context(), query); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(rec1.list()); n != 2 {
		t.Errorf("first session: %d prompts over two queries, want 2", n)
	}
	s1.Close()
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}

	e2 := newEngine(t, Config{DataDir: dir})
	rec2 := &recorder{decide: decide}
	s2 := session(t, e2, "alice", rec2)
	a, err := s2.Ask(t.Context(), query)
	if err != nil {
		t.Fatal(err)
	}
	if rec2.count("exec:metro_hail.estimate_fare") != 0 {
		t.Error("the permanent grant did not survive the restart")
	}
	if rec2.count("exec:quick_ride.estimate_fare") != 1 {
		t.Error("the session grant outlived its session")
	}
	if stepOf(t, a, "s1").Status != msg.StatusOK {
		t.Errorf("steps %+v", a.Steps)
	}
	// Another user has no grant of alice's.
	rec3 := &recorder{}
	s3 := session(t, e2, "bob", rec3)
	if _, err := s3.Ask(t.Context(), query); err != nil {
		t.Fatal(err)
	}
	if rec3.count("exec:metro_hail.estimate_fare") != 1 {
		t.Error("bob inherited alice's permanent grant")
	}
}

func TestWriteActionsAreNeverAlwaysAllowed(t *testing.T) {
	e := newEngine(t, Config{})
	rec := &recorder{decide: func(msg.Prompt) msg.Decision { return msg.AllowAlways }}
	s := session(t, e, "alice", rec)
	if _, err := s.Ask(t.Context(), rideQuery); err != nil {
		t.Fatal(err)
	}
	grants, err := e.Store().Grants("alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range grants {
		if strings.Contains(g.Key, "book_ride") {
			t.Errorf("a permanent grant was stored for a booking: %s", g.Key)
		}
	}
	if _, err := s.Ask(t.Context(), rideQuery); err != nil {
		t.Fatal(err)
	}
	if n := rec.count("exec:metro_hail.book_ride"); n != 2 {
		t.Errorf("booking asked %d times over two queries, want 2", n)
	}
}

func TestNoFrontEndDeniesEverything(t *testing.T) {
	e := newEngine(t, Config{})
	s := session(t, e, "alice", nil)
	a, err := s.Ask(t.Context(), rideQuery)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range a.Steps {
		if st.Status == msg.StatusOK && st.Kind != "op" {
			t.Errorf("step %s ran without anyone to ask", st.Step)
		}
	}
}

func TestUnansweredPromptIsDenied(t *testing.T) {
	e := newEngine(t, Config{PromptTimeout: 100 * time.Millisecond})
	block := frontend.PrompterFunc(func(ctx context.Context, r *msg.PromptRequest) (msg.Decision, error) {
		<-ctx.Done()
		return msg.AllowOnce, nil
	})
	s := session(t, e, "alice", block)
	a, err := s.Ask(t.Context(), `Use metro_hail to estimate the fare from "A" to "B"`)
	if err != nil {
		t.Fatal(err)
	}
	st := stepOf(t, a, "s1")
	if st.Status != msg.StatusDenied || !strings.Contains(st.Reason, "no answer") {
		t.Errorf("step %+v", st)
	}
}

func TestSpokeMemoryIsIsolated(t *testing.T) {
	model := scripted.New(
		scripted.Rule{Name: "planner", Match: scripted.Contains(`"catalog"`), Reply: func(r scripted.Request) scripted.Reply {
			app := "symptom_solver"
			if strings.Contains(r.Text, "second") {
				app = "creative_muse"
			}
			return scripted.Reply{Text: fmt.Sprintf(`{"steps": [{"id": "a", "app": %q, "agent": %q}], "answer": "{{a.text}}"}`, app, lastQuery(r))}
		}},
		scripted.Rule{Name: "spoke", Match: scripted.Always, Reply: scripted.Text("noted")},
	)
	e := newEngine(t, Config{Model: model})
	s := session(t, e, "alice", &recorder{})
	if _, err := s.Ask(t.Context(), "first: my secret is 4711"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ask(t.Context(), "second: tell a story"); err != nil {
		t.Fatal(err)
	}
	for _, c := range model.Calls() {
		if strings.Contains(c.Text, `"catalog"`) {
			continue
		}
		if strings.Contains(c.Text, "creative_muse") && strings.Contains(c.Text, "4711") {
			t.Fatal("creative_muse's spoke saw symptom_solver's memory")
		}
	}
	mem, err := e.Store().SpokeMemory("alice", "symptom_solver")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := mem.Recent(10)
	if err != nil || len(entries) == 0 {
		t.Fatalf("symptom_solver kept no memory: %v", err)
	}
}

func lastQuery(r scripted.Request) string {
	var req struct {
		Query string `json:"query"`
	}
	for _, m := range r.Messages {
		for _, p := range m.Parts {
			if tc, ok := p.(llms.TextContent); ok && json.Unmarshal([]byte(tc.Text), &req) == nil && req.Query != "" {
				return req.Query
			}
		}
	}
	return ""
}

func TestHubMemoryHoldsNoAppOutput(t *testing.T) {
	e := newEngine(t, Config{})
	s := session(t, e, "alice", &recorder{})
	if _, err := s.Ask(t.Context(), rideQuery); err != nil {
		t.Fatal(err)
	}
	turns, err := e.Store().RecentTurns("alice", 5)
	if err != nil || len(turns) != 1 {
		t.Fatalf("turns %v %v", turns, err)
	}
	// Not the time stamp: "09:30:51.8…" holds "51.8" by chance.
	turns[0].At = time.Time{}
	b, _ := json.Marshal(turns)
	for _, appOutput := range []string{"51.8", "MH-", "confirmed"} {
		if strings.Contains(string(b), appOutput) {
			t.Errorf("hub memory holds app output %q: %s", appOutput, b)
		}
	}
}

func TestReplanOnceThenFail(t *testing.T) {
	bad := `{"steps": [{"id": "a", "app": "evil", "function": "x", "args": {}}], "answer": ""}`
	good := `{"steps": [], "answer": "fine"}`
	t.Run("second plan accepted", func(t *testing.T) {
		model := scripted.New(scripted.Rule{Match: scripted.Always, Reply: scripted.Sequence(scripted.Reply{Text: bad}, scripted.Reply{Text: good})})
		e := newEngine(t, Config{Model: model})
		a, err := session(t, e, "alice", nil).Ask(t.Context(), "hi")
		if err != nil {
			t.Fatal(err)
		}
		if a.Text != "fine" || a.Usage.Calls != 2 {
			t.Errorf("answer %q after %d calls", a.Text, a.Usage.Calls)
		}
		if !strings.Contains(model.Calls()[1].Text, `unknown app \"evil\"`) && !strings.Contains(model.Calls()[1].Text, `unknown app "evil"`) {
			t.Errorf("the re-plan request does not give the reason:\n%s", model.Calls()[1].Text)
		}
	})
	t.Run("both rejected", func(t *testing.T) {
		model := scripted.New(scripted.Rule{Match: scripted.Always, Reply: scripted.Text(bad)})
		e := newEngine(t, Config{Model: model})
		_, err := session(t, e, "alice", nil).Ask(t.Context(), "hi")
		if err == nil || !strings.Contains(err.Error(), "plan rejected") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestBadUserAndBadDataFolder(t *testing.T) {
	e := newEngine(t, Config{})
	if _, err := e.OpenSession(t.Context(), "../etc", nil); err == nil {
		t.Error("a user id with a path in it was accepted")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{DataDir: file}); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("a file as data folder: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestActorLoggingGoesToTheProjectLogger(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEngine(t, Config{Logger: logger})
	s := session(t, e, "alice", &recorder{})
	if _, err := s.Ask(t.Context(), `Use metro_hail to estimate the fare from "A" to "B"`); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"component":"actor"`) {
		t.Errorf("protoactor's log lines did not reach the project's logger:\n%s", buf.String())
	}
}
