package engine

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/llm/scripted"
)

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

// askISC runs the ISC scenario: metro_hail's agent asks for quick_ride's
// fare with args, and the user denies prompts of the kind deny ("" for none).
func askISC(t *testing.T, args any, deny msg.Kind) (*Engine, *recorder, *msg.Answer) {
	t.Helper()
	e := newEngine(t, Config{Model: iscModel(args)})
	rec := &recorder{decide: func(p msg.Prompt) msg.Decision {
		if p.Kind == deny {
			return msg.Deny
		}
		return msg.AllowOnce
	}}
	a, err := session(t, e, "alice", rec).Ask(t.Context(), "compare")
	if err != nil {
		t.Fatal(err)
	}
	return e, rec, a
}

func TestISCMediation(t *testing.T) {
	route := map[string]string{"start_point": "Main Street", "end_point": "Elm Avenue"}
	t.Run("allowed", func(t *testing.T) {
		e, rec, a := askISC(t, route, "")
		step := stepOf(t, a, "a")
		if step.Status != msg.StatusOK || !strings.Contains(a.Text, `got: {\"currency\":\"USD\",\"fare\":57}`) {
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
		e, rec, a := askISC(t, route, msg.Collab)
		// The spoke learns only that its request did not go through; the
		// user's answer says why.
		if !strings.Contains(a.Text, "ISC request not completed") || strings.Contains(a.Text, "denied") {
			t.Errorf("the spoke was not told, or told too much: %s", a.Text)
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
		_, _, a := askISC(t, route, msg.Data)
		if strings.Contains(a.Text, "57") {
			t.Errorf("the fare reached metro_hail although its release was denied: %s", a.Text)
		}
	})
	t.Run("arguments outside the schema never reach a prompt", func(t *testing.T) {
		e, rec, a := askISC(t, map[string]any{"start_point": "A", "end_point": "B", "from": "quick_ride"}, "")
		if rec.count("collab:metro_hail>quick_ride.estimate_fare") != 0 {
			t.Error("invalid ISC arguments were put to the user")
		}
		if !strings.Contains(a.Text, "ISC request not completed") {
			t.Errorf("answer: %s", a.Text)
		}
		found := false
		for _, r := range audit(t, e, "alice") {
			if r.Kind == "isc" && strings.Contains(string(r.Detail), "do not fit") {
				found = true
			}
		}
		if !found {
			t.Error("the audit log does not say why the request was refused")
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
