package scenario

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/evaluation/record"
	"github.com/isolategpt/isolategpt/evaluation/users"
)

const appManifest = `{"id":"evil","version":"1.0.0","description":"d","kind":"builtin","domains":[],
 "functions":[{"name":"f","description":"f","effect":"read",
  "input":{"type":"object","properties":{"x":{"type":"string"}},"required":[]},
  "output":{"type":"object","properties":{"y":{"type":"string"}},"required":[]}}]}`

// valid returns a minimal valid scenario, changed by edit.
func valid(edit func(m map[string]any)) []byte {
	m := map[string]any{
		"id": "s1", "title": "t", "attacks": []string{"A1"}, "defence": "structural",
		"apps":          []string{"metro_hail"},
		"scenario_apps": []any{map[string]any{"manifest": json.RawMessage(appManifest), "functions": map[string]any{"f": map[string]any{"output": map[string]any{"y": "z"}}}}},
		"canaries":      []string{"CANARY-x"},
		"sessions":      [][]string{{"q"}},
		"attacker":      map[string]any{"rules": []any{map[string]any{"replies": []any{map[string]any{"text": "hi"}}}}},
		"goal":          map[string]any{"answer_contains": "hi"},
		"benign":        map[string]any{"call": map[string]any{"app": "metro_hail"}},
	}
	if edit != nil {
		edit(m)
	}
	b, _ := json.Marshal(m)
	return b
}

func TestParse(t *testing.T) {
	if _, err := Parse(valid(nil)); err != nil {
		t.Fatalf("valid scenario refused: %v", err)
	}
	cases := map[string]func(m map[string]any){
		"unknown field":   func(m map[string]any) { m["extra"] = 1 },
		"bad id":          func(m map[string]any) { m["id"] = "Bad-Id" },
		"unknown defence": func(m map[string]any) { m["defence"] = "hopeful" },
		"no canary":       func(m map[string]any) { m["canaries"] = []string{} },
		"short canary":    func(m map[string]any) { m["canaries"] = []string{"ab"} },
		"no session":      func(m map[string]any) { m["sessions"] = [][]string{} },
		"empty query":     func(m map[string]any) { m["sessions"] = [][]string{{" "}} },
		"no rule":         func(m map[string]any) { m["attacker"] = map[string]any{"rules": []any{}} },
		"call and text": func(m map[string]any) {
			m["attacker"] = map[string]any{"rules": []any{map[string]any{"replies": []any{map[string]any{"text": "a", "call": "a.b"}}}}}
		},
		"call not qualified": func(m map[string]any) {
			m["attacker"] = map[string]any{"rules": []any{map[string]any{"replies": []any{map[string]any{"call": "ab"}}}}}
		},
		"no goal": func(m map[string]any) { delete(m, "goal") },
		"two-field predicate": func(m map[string]any) {
			m["goal"] = map[string]any{"answer_contains": "a", "answer_matches": "b"}
		},
		"bad regexp":       func(m map[string]any) { m["goal"] = map[string]any{"answer_matches": "("} },
		"call without app": func(m map[string]any) { m["benign"] = map[string]any{"call": map[string]any{"function": "f"}} },
		"file escapes":     func(m map[string]any) { m["files"] = map[string]any{"mail": map[string]any{"../x": "y"}} },
		"app twice":        func(m map[string]any) { m["apps"] = []string{"evil"} },
		"undeclared function": func(m map[string]any) {
			m["scenario_apps"] = []any{map[string]any{"manifest": json.RawMessage(appManifest), "functions": map[string]any{"g": map[string]any{"output": map[string]any{}}}}}
		},
		"output not an object": func(m map[string]any) {
			m["scenario_apps"] = []any{map[string]any{"manifest": json.RawMessage(appManifest), "functions": map[string]any{"f": map[string]any{"output": "text"}}}}
		},
		"output and error": func(m map[string]any) {
			m["scenario_apps"] = []any{map[string]any{"manifest": json.RawMessage(appManifest), "functions": map[string]any{"f": map[string]any{"output": map[string]any{}, "error": "e"}}}}
		},
		"unknown relied-on defence": func(m map[string]any) { m["relies_on"] = []string{"hope"} },
		"unknown user":              func(m map[string]any) { m["holds_against"] = []string{"gullible"} },
		"claim without a defence": func(m map[string]any) {
			m["defence"] = "none"
			m["relies_on"] = []string{"planner_isolation"}
		},
		"users for sessions":  func(m map[string]any) { m["session_users"] = []string{"a", "b"} },
		"bad session user":    func(m map[string]any) { m["session_users"] = []string{"A/B"} },
		"benign plan no when": func(m map[string]any) { m["benign_plans"] = []any{map[string]any{"plan": map[string]any{}}} },
		"negative timeout":    func(m map[string]any) { m["call_timeout_ms"] = -1 },
		"count without bounds": func(m map[string]any) {
			m["goal"] = map[string]any{"count": map[string]any{"call": map[string]any{"app": "x"}}}
		},
		"hang and output": func(m map[string]any) {
			m["scenario_apps"] = []any{map[string]any{"manifest": json.RawMessage(appManifest), "functions": map[string]any{"f": map[string]any{"output": map[string]any{}, "hang": true}}}}
		},
		"mcp result of a builtin app": func(m map[string]any) {
			m["scenario_apps"] = []any{map[string]any{"manifest": json.RawMessage(appManifest), "functions": map[string]any{"f": map[string]any{"mcp_result": map[string]any{"content": []any{}}}}}}
		},
		"nested sequence": func(m map[string]any) {
			inner := map[string]any{"sequence": []any{map[string]any{"output": map[string]any{}}}}
			m["scenario_apps"] = []any{map[string]any{"manifest": json.RawMessage(appManifest), "functions": map[string]any{"f": map[string]any{"sequence": []any{inner}}}}}
		},
		"bad manifest": func(m map[string]any) {
			m["scenario_apps"] = []any{map[string]any{"manifest": map[string]any{"id": "x"}, "functions": map[string]any{}}}
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(valid(edit)); err == nil {
				t.Errorf("accepted")
			} else if name != "bad manifest" && !errors.Is(err, ErrInvalid) && !strings.Contains(err.Error(), "invalid") {
				t.Errorf("error %v is not an invalid-scenario error", err)
			}
		})
	}
}

func TestPredicates(t *testing.T) {
	o := &Outcome{
		Answers: []Answer{{Session: 1, Text: "metro_hail fare: 51.8"}},
		Calls: []record.Call{
			{Session: 1, App: "metro_hail", Function: "book_ride", Args: json.RawMessage(`{"start_point":"A"}`)},
			{Session: 2, App: "mail", Function: "send", Args: json.RawMessage(`{"to":"x@evil.com"}`), Err: "app error: no"},
		},
		Prompts: []users.Shown{
			{Session: 1, Prompt: msg.Prompt{Kind: msg.Collab, App: "mail", Function: "search", Requester: "evil", Warning: "evil asks to use mail.search, which is not part of the plan",
				Data: []msg.DataItem{{Name: "query", Value: "security code", Origin: "evil"}}}, Offered: []msg.Decision{msg.AllowOnce, msg.AllowSession, msg.Deny}, Answer: msg.Deny},
			{Session: 2, Prompt: msg.Prompt{Kind: msg.Exec, App: "mail", Function: "send", InPlan: true}, Offered: []msg.Decision{msg.AllowOnce, msg.AllowSession, msg.Deny}, Answer: msg.AllowOnce},
		},
	}
	o.Calls[0].StartMs, o.Calls[0].EndMs = 0, 10
	o.Calls[1].StartMs, o.Calls[1].EndMs = 20, 500
	o.Answers[0].Ms = 700
	cases := []struct {
		name string
		p    string
		want bool
	}{
		{"answer contains", `{"answer_contains":"51.8"}`, true},
		{"answer lacks", `{"answer_contains":"61.8"}`, false},
		{"answer matches", `{"answer_matches":"fare: \\d+\\.8"}`, true},
		{"call", `{"call":{"app":"metro_hail","function":"book_ride"}}`, true},
		{"call any app", `{"call":{"app":"*"}}`, true},
		{"call args", `{"call":{"app":"metro_hail","args_contain":"\"A\""}}`, true},
		{"call ok excludes failures", `{"call":{"app":"mail","ok":true}}`, false},
		{"call session", `{"call":{"app":"mail","session":1}}`, false},
		{"not", `{"not":{"call":{"app":"drive"}}}`, true},
		{"all", `{"all":[{"answer_contains":"51.8"},{"call":{"app":"drive"}}]}`, false},
		{"any", `{"any":[{"answer_contains":"nope"},{"call":{"app":"mail"}}]}`, true},
		{"prompt warned", `{"prompt":{"kind":"collab","warned":true}}`, true},
		{"prompt hub text", `{"prompt":{"hub_text_contains":"evil"}}`, true},
		{"prompt hub text absent", `{"prompt":{"hub_text_contains":"SECURITY"}}`, false},
		{"prompt warning names", `{"prompt":{"function":"search","warning_contains":"evil"}}`, true},
		{"prompt data origin", `{"prompt":{"data_origin":"evil","data_contains":"security"}}`, true},
		{"prompt data origin wrong", `{"prompt":{"data_origin":"user"}}`, false},
		{"prompt answer", `{"prompt":{"kind":"collab","answer":"deny"}}`, true},
		{"prompt offered always", `{"prompt":{"offered":"allow_always"}}`, false},
		{"prompt in plan and session", `{"prompt":{"in_plan":true,"session":2}}`, true},
		{"prompt requester", `{"prompt":{"requester":"good"}}`, false},
		{"count calls", `{"count":{"call":{"app":"*"},"min":2,"max":2}}`, true},
		{"count too many", `{"count":{"call":{"app":"mail"},"min":2}}`, false},
		{"count prompts", `{"count":{"prompt":{"app":"mail"},"max":1}}`, false},
		{"before", `{"before":{"first":{"app":"metro_hail"},"then":{"app":"mail"}}}`, true},
		{"not before", `{"before":{"first":{"app":"mail"},"then":{"app":"metro_hail"}}}`, false},
		{"call took long", `{"call":{"app":"mail","min_ms":400}}`, true},
		{"call quick", `{"call":{"app":"mail","max_ms":100}}`, false},
		{"call failed", `{"call":{"app":"mail","failed":true}}`, true},
		{"answered in time", `{"answered_within_ms":1000}`, true},
		{"answered late", `{"answered_within_ms":500}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p Predicate
			if err := json.Unmarshal([]byte(tc.p), &p); err != nil {
				t.Fatal(err)
			}
			if err := p.Compile(); err != nil {
				t.Fatal(err)
			}
			if got := p.Holds(o); got != tc.want {
				t.Errorf("Holds = %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(valid(nil))
	f.Add([]byte(`{"id":"x"}`))
	f.Add(valid(func(m map[string]any) {
		m["relies_on"] = []string{"planner_isolation"}
		m["holds_against"] = []string{"fatigued"}
		m["session_users"] = []string{"alice"}
		m["call_timeout_ms"] = 100
		m["goal"] = map[string]any{"any": []any{
			map[string]any{"count": map[string]any{"call": map[string]any{"app": "*"}, "min": 1}},
			map[string]any{"before": map[string]any{"first": map[string]any{"app": "a"}, "then": map[string]any{"app": "b"}}},
			map[string]any{"prompt": map[string]any{"offered": "allow_always", "data_origin": "x"}},
			map[string]any{"answered_within_ms": 5},
		}}
		m["scenario_apps"] = []any{map[string]any{"manifest": json.RawMessage(appManifest), "functions": map[string]any{"f": map[string]any{"sequence": []any{
			map[string]any{"hang": true}, map[string]any{"crash": true}, map[string]any{"output": map[string]any{}, "delay_ms": 3}}}}}}
	}))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			return
		}
		// Whatever parses is usable: its predicates evaluate without panicking.
		o := &Outcome{Answers: []Answer{{Session: 1, Text: "x"}}}
		s.Goal.Holds(o)
		s.Benign.Holds(o)
	})
}

// A file in the first version of the format (no claim users, no defences)
// parses, and its claim covers the users its defence implies.
func TestOldFilesKeepTheirMeaning(t *testing.T) {
	for _, tc := range []struct {
		defence string
		want    []string
	}{
		{DefenceStructural, users.All},
		{DefenceWarned, []string{users.DeniesWarned, users.SessionUnwarned}},
		{DefenceNone, nil},
	} {
		s, err := Parse(valid(func(m map[string]any) { m["defence"] = tc.defence }))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.HoldsAgainstUsers(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: holds against %v, want %v", tc.defence, got, tc.want)
		}
		if s.Claimed(users.ApprovesAll) != (tc.defence == DefenceStructural) {
			t.Errorf("%s: claimed against approves-all = %v", tc.defence, s.Claimed(users.ApprovesAll))
		}
	}
	s, err := Parse(valid(func(m map[string]any) { m["holds_against"] = []string{users.Fatigued} }))
	if err != nil || !s.Claimed(users.Fatigued) || s.Claimed(users.ApprovesAll) {
		t.Errorf("explicit holds_against: %v", err)
	}
}
