package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine"
)

func newEngine(t *testing.T) *engine.Engine {
	t.Helper()
	e, err := engine.New(engine.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestBatchBadLinesDoNotStopTheRest(t *testing.T) {
	e := newEngine(t)
	pol, err := ParsePolicy([]byte(`{"rules": [{"kind": "exec", "app": "metro_hail", "decision": "allow_once"}]}`), e.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Join([]string{
		`{"id": "good", "query": "Use metro_hail to estimate the fare from \"A\" to \"B\""}`,
		`{"id": "broken", "query": `,
		``,
		`{"id": "empty", "query": "   "}`,
		`{"id": "extra", "query": "hi", "sudo": true}`,
		`{"id": "bad-user", "query": "hi", "user": "../root"}`,
		`{"id": "denied", "query": "Use quick_ride to estimate the fare from \"A\" to \"B\""}`,
		`{"id": "long", "query": "` + strings.Repeat("x", MaxLineBytes) + `"}`,
		`{"id": "last", "query": "Use metro_hail to estimate the fare from \"C\" to \"D\""}`,
		`{"id": "utf8", "query": "Use metro_hail to estimate the fare from \"A` + "\xff" + `\" to \"B\""}`,
		`{"id": "dup", "query": "Use metro_hail to estimate the fare from \"A\" to \"B\"", "query": "Use quick_ride to estimate the fare from \"A\" to \"B\""}`,
		`{"id": "surrogate", "query": "Use metro_hail to estimate the fare from \"A\ud800\" to \"B\""}`,
		`{"id": "good", "query": "Use metro_hail to estimate the fare from \"E\" to \"F\""}`,
		`{"id": "trailing", "query": "Use metro_hail to estimate the fare from \"A\" to \"B\""} {"id": "x"}`,
		`{"id": "nothing", "query": "hello there"}`,
	}, "\n")
	var out bytes.Buffer
	sum, err := (&Runner{Engine: e, Policy: pol, DefaultUser: "alice"}).Run(t.Context(), strings.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Lines != 14 || sum.Count[msg.Done] != 2 || sum.Count[msg.Denied] != 1 || sum.Count[msg.Failed] != 11 || sum.Worst != msg.Failed || sum.Interrupted {
		t.Errorf("summary %+v, want 14 lines: 2 done, 1 denied, 11 failed", sum)
	}
	results := map[int]Output{}
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var o Output
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("output line is not JSON: %v", err)
		}
		results[o.Line] = o
	}
	want := map[int]struct {
		status  msg.Outcome
		mention string
	}{
		1:  {msg.Done, ""},
		2:  {msg.Failed, "malformed"},
		4:  {msg.Failed, "empty query"},
		5:  {msg.Failed, "sudo"},
		6:  {msg.Failed, "user"},
		7:  {msg.Denied, ""},
		8:  {msg.Failed, "longer than"},
		9:  {msg.Done, ""},
		10: {msg.Failed, "invalid UTF-8"},
		11: {msg.Failed, "duplicate object key"},
		12: {msg.Failed, "surrogate"},
		13: {msg.Failed, `id "good" repeats the id of line 1`},
		14: {msg.Failed, "trailing data"},
		15: {msg.Failed, ""},
	}
	for line, w := range want {
		o, ok := results[line]
		if !ok {
			t.Errorf("no result for line %d", line)
			continue
		}
		if o.Status != w.status || !strings.Contains(o.Error, w.mention) {
			t.Errorf("line %d: %s %q, want %s mentioning %q", line, o.Status, o.Error, w.status, w.mention)
		}
		// A refused line runs nothing.
		if o.Error != "" && (o.QueryID != "" || len(o.Steps) > 0) {
			t.Errorf("line %d was refused (%s) but ran: %+v", line, o.Error, o)
		}
	}
	good := results[1]
	if good.ID != "good" || len(good.Steps) != 1 || good.Steps[0].App != "metro_hail" || good.Steps[0].Status != msg.StatusOK {
		t.Errorf("good line: %+v", good)
	}
	if len(good.Plan) == 0 || good.LLM == nil || good.LLM.Calls != 1 || len(good.Permissions) != 1 || !good.Permissions[0].Asked {
		t.Errorf("good line lacks plan, llm calls or permissions: %+v", good)
	}
	if d := results[7]; len(d.Steps) != 1 || d.Steps[0].Status != msg.StatusDenied {
		t.Errorf("the policy's default did not deny quick_ride: %+v", d.Steps)
	}
}

func TestParsePolicyRejects(t *testing.T) {
	e := newEngine(t)
	tests := map[string]struct{ policy, mention string }{
		"unknown app":          {`{"rules": [{"kind": "exec", "app": "metro_hale", "decision": "allow_once"}]}`, `unknown app "metro_hale"`},
		"unknown requester":    {`{"rules": [{"kind": "collab", "requester": "ghost", "decision": "deny"}]}`, `unknown app "ghost"`},
		"unknown function":     {`{"rules": [{"kind": "exec", "app": "metro_hail", "function": "fly", "decision": "deny"}]}`, `no function "fly"`},
		"function without app": {`{"rules": [{"kind": "exec", "function": "book_ride", "decision": "deny"}]}`, "needs an app"},
		"unknown decision":     {`{"rules": [{"kind": "exec", "decision": "maybe"}]}`, "unknown decision"},
		"unknown kind":         {`{"rules": [{"kind": "root", "decision": "deny"}]}`, "unknown kind"},
		"unknown field":        {`{"rules": [], "allow_all": true}`, "allow_all"},
		"bad default":          {`{"default": "yes"}`, "unknown decision"},
		"not JSON":             {`rules: []`, "policy"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tt.policy), e.Catalog())
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.mention)
			}
		})
	}
}

func TestPolicyFirstMatchWinsAndDefaultDenies(t *testing.T) {
	e := newEngine(t)
	p, err := ParsePolicy([]byte(`{"rules": [
		{"kind": "exec", "app": "metro_hail", "function": "book_ride", "decision": "deny"},
		{"kind": "exec", "app": "metro_hail", "decision": "allow_session"}]}`), e.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		p    msg.Prompt
		want msg.Decision
	}{
		{msg.Prompt{Kind: msg.Exec, App: "metro_hail", Function: "book_ride"}, msg.Deny},
		{msg.Prompt{Kind: msg.Exec, App: "metro_hail", Function: "estimate_fare"}, msg.AllowSession},
		{msg.Prompt{Kind: msg.Collab, Requester: "metro_hail", App: "quick_ride", Function: "estimate_fare"}, msg.Deny},
	}
	for _, c := range cases {
		if got := p.Decide(c.p); got != c.want {
			t.Errorf("%s: %s, want %s", c.p.Key(), got, c.want)
		}
	}
}

// TestPolicyPinNeedsItsOwnRule: an allow-all policy does not approve an
// MCP app whose tools changed; only a rule of kind "pin" does.
func TestPolicyPinNeedsItsOwnRule(t *testing.T) {
	e := newEngine(t)
	pin := msg.Prompt{Kind: msg.Pin, App: "metro_hail", Pin: "ab12"}
	all, err := ParsePolicy([]byte(`{"rules": [{"kind": "*", "decision": "allow_session"}, {"app": "metro_hail", "decision": "allow_once"}], "default": "allow_once"}`), e.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if got := all.Decide(pin); got != msg.AllowOnce {
		// Only the default decides it here, never the wildcard rules.
		t.Errorf("allow-all rules: %s, want the default", got)
	}
	// ... and the permission manager lets no default re-pin (frontend.Automatic).
	if by := all.AnsweredBy(pin); by != msg.ByDefault {
		t.Errorf("a default's answer is by %s, want %s", by, msg.ByDefault)
	}
	strict, err := ParsePolicy([]byte(`{"rules": [{"kind": "*", "decision": "allow_session"}]}`), e.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if got := strict.Decide(pin); got != msg.Deny {
		t.Errorf("allow-all rule with the default deny: %s, want deny", got)
	}
	own, err := ParsePolicy([]byte(`{"rules": [{"kind": "pin", "app": "metro_hail", "decision": "allow_once"}]}`), e.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if got := own.Decide(pin); got != msg.AllowOnce {
		t.Errorf("pin rule: %s, want allow_once", got)
	}
	if by := own.AnsweredBy(pin); by != msg.ByRule {
		t.Errorf("a pin rule's answer is by %s, want %s", by, msg.ByRule)
	}
}
