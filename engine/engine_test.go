package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/llm"
	"github.com/isolategpt/isolategpt/engine/llm/scripted"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/inproc"
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

func (r *recorder) count(key string) int {
	n := 0
	for _, p := range r.list() {
		if p.Key() == key {
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
	for _, want := range []string{"metro_hail fare: 51.8", "quick_ride fare: 57", "Lowest fare: 51.8 from metro_hail", "offline model"} {
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

// iscModel scripts the planner to run metro_hail's agent, and metro_hail's
// agent to ask for quick_ride's fare through the hub.
func iscModel(args any) *scripted.Model {
	plan := `{"steps": [{"id": "a", "app": "metro_hail", "agent": "compare fares"}], "answer": "{{a.text}}"}`
	return scripted.New(
		scripted.Rule{Name: "planner", Match: scripted.Contains(`"catalog"`), Reply: scripted.Text(plan)},
		scripted.Rule{Name: "spoke done", Match: scripted.HasToolResult, Reply: func(r scripted.Request) scripted.Reply {
			return scripted.Reply{Text: "got: " + lastToolResult(r)}
		}},
		scripted.Rule{Name: "spoke asks", Match: scripted.HasTool("quick_ride__estimate_fare"), Reply: func(scripted.Request) scripted.Reply {
			return scripted.Reply{ToolCalls: []llms.ToolCall{scripted.Call("quick_ride__estimate_fare", args)}}
		}},
	)
}

func lastToolResult(r scripted.Request) string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		for _, p := range r.Messages[i].Parts {
			if tr, ok := p.(llms.ToolCallResponse); ok {
				return tr.Content
			}
		}
	}
	return ""
}

func TestISCMediation(t *testing.T) {
	route := map[string]string{"start_point": "Main Street", "end_point": "Elm Avenue"}
	t.Run("allowed", func(t *testing.T) {
		e := newEngine(t, Config{Model: iscModel(route)})
		rec := &recorder{}
		s := session(t, e, "alice", rec)
		a, err := s.Ask(t.Context(), "compare")
		if err != nil {
			t.Fatal(err)
		}
		step := stepOf(t, a, "a")
		if step.Status != msg.StatusOK || !strings.Contains(a.Text, `got: {"currency":"USD","fare":57}`) {
			t.Fatalf("step %+v\nanswer %s", step, a.Text)
		}
		var collab, release *msg.Prompt
		for _, p := range rec.list() {
			p := p
			switch p.Kind {
			case msg.Collab:
				collab = &p
			case msg.Data:
				release = &p
			}
		}
		if collab == nil || collab.Requester != "metro_hail" || collab.Target() != "quick_ride.estimate_fare" || collab.InPlan {
			t.Fatalf("collab prompt %+v", collab)
		}
		if collab.Warning == "" {
			t.Error("an ISC request outside the plan carries no warning")
		}
		if release == nil || release.Origin != "quick_ride.estimate_fare" || release.App != "metro_hail" {
			t.Fatalf("release prompt %+v", release)
		}
		found := false
		for _, r := range audit(t, e, "alice") {
			if r.Kind == "isc" && r.Outcome == msg.StatusOK && r.Function == "quick_ride.estimate_fare" && r.App == "metro_hail" {
				found = true
			}
		}
		if !found {
			t.Error("no audit record of the ISC request")
		}
	})
	t.Run("collab denied", func(t *testing.T) {
		e := newEngine(t, Config{Model: iscModel(route)})
		rec := &recorder{decide: func(p msg.Prompt) msg.Decision {
			if p.Kind == msg.Collab {
				return msg.Deny
			}
			return msg.AllowOnce
		}}
		s := session(t, e, "alice", rec)
		a, err := s.Ask(t.Context(), "compare")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(a.Text, "ISC denied") {
			t.Errorf("the spoke was not told of the denial: %s", a.Text)
		}
		for _, r := range audit(t, e, "alice") {
			if r.Kind == "spoke" && r.App == "quick_ride" {
				t.Error("quick_ride was started although the collaboration was denied")
			}
		}
		if rec.count("data:quick_ride.estimate_fare>metro_hail.*") != 0 {
			t.Error("a result was offered for release although nothing ran")
		}
	})
	t.Run("release denied", func(t *testing.T) {
		e := newEngine(t, Config{Model: iscModel(route)})
		rec := &recorder{decide: func(p msg.Prompt) msg.Decision {
			if p.Kind == msg.Data {
				return msg.Deny
			}
			return msg.AllowOnce
		}}
		s := session(t, e, "alice", rec)
		a, err := s.Ask(t.Context(), "compare")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(a.Text, "57") {
			t.Errorf("the fare reached metro_hail although its release was denied: %s", a.Text)
		}
	})
	t.Run("arguments outside the schema never reach a prompt", func(t *testing.T) {
		e := newEngine(t, Config{Model: iscModel(map[string]any{"start_point": "A", "end_point": "B", "from": "quick_ride"})})
		rec := &recorder{}
		s := session(t, e, "alice", rec)
		a, err := s.Ask(t.Context(), "compare")
		if err != nil {
			t.Fatal(err)
		}
		if rec.count("collab:metro_hail>quick_ride.estimate_fare") != 0 {
			t.Error("invalid ISC arguments were put to the user")
		}
		if !strings.Contains(a.Text, "do not fit") {
			t.Errorf("answer: %s", a.Text)
		}
	})
}

// rogue is an actor that is not a spoke but knows the hub's PID.
type rogue struct{ replies chan any }

func (r *rogue) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *msg.ISCReply, *msg.ExecReply, *msg.InvokeReply:
		r.replies <- m
	}
}

func TestISCFromAForgedSenderIsRefused(t *testing.T) {
	e := newEngine(t, Config{Model: iscModel(map[string]string{"start_point": "A", "end_point": "B"})})
	replies := make(chan any, 4)
	pid := e.system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &rogue{replies: replies} }))
	s := session(t, e, "alice", &recorder{})
	// A query is running, so the hub has spokes and an active query id.
	if _, err := s.Ask(t.Context(), "compare"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []any{
		&msg.ISCRequest{QueryID: "q-any", Function: "quick_ride.estimate_fare", Args: json.RawMessage(`{"start_point":"A","end_point":"B"}`)},
		&msg.ExecRequest{QueryID: "q-any", Function: "book_ride", Args: json.RawMessage(`{}`)},
		&msg.InvokeRequest{QueryID: "q-any", SessionID: s.ID(), App: "quick_ride", Function: "book_ride", Args: json.RawMessage(`{"start_point":"A","end_point":"B"}`)},
	} {
		e.system.Root.RequestWithCustomSender(e.hub, m, pid)
		select {
		case r := <-replies:
			var errText string
			switch r := r.(type) {
			case *msg.ISCReply:
				errText = r.Err
			case *msg.ExecReply:
				if r.Allowed {
					t.Fatal("exec allowed for a forged sender")
				}
				errText = r.Reason
			case *msg.InvokeReply:
				errText = r.Err
			}
			if !strings.Contains(errText, "sender") {
				t.Errorf("%T refused for the wrong reason: %q", m, errText)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no reply to %T", m)
		}
	}
	for _, r := range audit(t, e, "alice") {
		if r.Kind == "step" && r.Function == "book_ride" {
			t.Error("a forged invoke booked a ride")
		}
	}
}

// Messages a spoke receives must not carry a PID: a spoke can only answer
// the hub, never address another spoke.
func TestSpokeMessagesCarryNoPID(t *testing.T) {
	pidType := reflect.TypeOf((*actor.PID)(nil))
	for _, m := range []any{msg.InvokeRequest{}, msg.ISCReply{}, msg.ExecReply{}} {
		var check func(reflect.Type, string)
		check = func(tp reflect.Type, path string) {
			switch tp.Kind() {
			case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
				if tp == pidType {
					t.Errorf("%s carries a PID", path)
					return
				}
				check(tp.Elem(), path+"[]")
			case reflect.Struct:
				for i := 0; i < tp.NumField(); i++ {
					check(tp.Field(i).Type, path+"."+tp.Field(i).Name)
				}
			case reflect.Interface:
				t.Errorf("%s is an interface and could carry a PID", path)
			}
		}
		check(reflect.TypeOf(m), reflect.TypeOf(m).Name())
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
	b, _ := json.Marshal(turns)
	for _, appOutput := range []string{"51.8", "MH-", "confirmed"} {
		if strings.Contains(string(b), appOutput) {
			t.Errorf("hub memory holds app output %q: %s", appOutput, b)
		}
	}
}

// crashingLauncher starts apps whose first call panics.
type crashingLauncher struct {
	mu      sync.Mutex
	crashed bool
}

func (l *crashingLauncher) Launch(ctx context.Context, app, dir string) (sandbox.Conn, error) {
	c, err := inproc.Launcher{}.Launch(ctx, app, dir)
	if err != nil {
		return nil, err
	}
	return &crashingConn{Conn: c, l: l}, nil
}

type crashingConn struct {
	sandbox.Conn
	l *crashingLauncher
}

func (c *crashingConn) CallTool(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	c.l.mu.Lock()
	first := !c.l.crashed
	c.l.crashed = true
	c.l.mu.Unlock()
	if first {
		panic("app bug")
	}
	return c.Conn.CallTool(ctx, name, args)
}

func TestSpokeCrashIsContainedAndRecovered(t *testing.T) {
	e := newEngine(t, Config{Launcher: &crashingLauncher{}})
	s := session(t, e, "alice", &recorder{})
	q := `Use metro_hail to estimate the fare from "A" to "B"`
	a, err := s.Ask(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if st := stepOf(t, a, "s1"); st.Status != msg.StatusFailed || !strings.Contains(st.Reason, "crashed") {
		t.Fatalf("first call: %+v", st)
	}
	a, err = s.Ask(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if st := stepOf(t, a, "s1"); st.Status != msg.StatusOK {
		t.Fatalf("after the crash: %+v", st)
	}
	crash := false
	for _, r := range audit(t, e, "alice") {
		crash = crash || r.Kind == "crash"
	}
	if !crash {
		t.Error("the crash is not in the audit log")
	}
}

func TestSpokeStopsWhenIdle(t *testing.T) {
	e := newEngine(t, Config{SpokeIdle: 50 * time.Millisecond})
	s := session(t, e, "alice", &recorder{})
	q := `Use metro_hail to estimate the fare from "A" to "B"`
	for i := 0; i < 2; i++ {
		if _, err := s.Ask(t.Context(), q); err != nil {
			t.Fatal(err)
		}
		// Wait until the spoke is gone before asking again.
		deadline := time.Now().Add(5 * time.Second)
		for {
			res, err := e.system.Root.RequestFuture(e.hub, &msg.StatusRequest{}, time.Second).Result()
			if err == nil && len(res.(*msg.StatusReply).Spokes) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the spoke did not stop when idle: %+v %v", res, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	started := 0
	for _, r := range audit(t, e, "alice") {
		if r.Kind == "spoke" && r.Outcome == "started" {
			started++
		}
	}
	if started != 2 {
		t.Errorf("spoke started %d times, want 2 (once per query, stopped when idle in between)", started)
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

// deadLauncher starts apps whose first call reports the worker dead, as a
// limit kill or a crash would.
type deadLauncher struct {
	mu   sync.Mutex
	dead bool
}

func (l *deadLauncher) Launch(ctx context.Context, app, dir string) (sandbox.Conn, error) {
	c, err := inproc.Launcher{}.Launch(ctx, app, dir)
	if err != nil {
		return nil, err
	}
	return &deadConn{Conn: c, l: l}, nil
}

type deadConn struct {
	sandbox.Conn
	l *deadLauncher
}

func (c *deadConn) CallTool(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	c.l.mu.Lock()
	first := !c.l.dead
	c.l.dead = true
	c.l.mu.Unlock()
	if first {
		return nil, fmt.Errorf("%w: passed its 30s wall-clock limit; worker killed", sandbox.ErrDead)
	}
	return c.Conn.CallTool(ctx, name, args)
}

func TestDeadWorkerIsASupervisedFailure(t *testing.T) {
	e := newEngine(t, Config{Launcher: &deadLauncher{}})
	s := session(t, e, "alice", &recorder{})
	q := `Use metro_hail to estimate the fare from "A" to "B"`
	a, err := s.Ask(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if st := stepOf(t, a, "s1"); st.Status != msg.StatusFailed || !strings.Contains(st.Reason, "wall-clock limit") {
		t.Fatalf("first call: %+v", st)
	}
	a, err = s.Ask(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if st := stepOf(t, a, "s1"); st.Status != msg.StatusOK {
		t.Fatalf("after the worker died: %+v", st)
	}
	supervised := false
	for _, r := range audit(t, e, "alice") {
		supervised = supervised || (r.Kind == "crash" && strings.Contains(string(r.Detail), "wall-clock limit"))
	}
	if !supervised {
		t.Error("the dead worker is not in the audit log as a supervised failure")
	}
}
