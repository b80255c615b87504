package batch

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// A policy is read the way a person reads it or not at all: a second
// "decision" may not silently override the first, and null is not an
// empty policy.
func TestParsePolicyIsStrict(t *testing.T) {
	e := newEngine(t)
	tests := map[string]struct {
		policy string
		want   error
	}{
		"duplicate decision": {`{"rules": [{"kind": "exec", "app": "mail", "decision": "deny", "decision": "allow_once"}]}`, strictjson.ErrDuplicateKey},
		"duplicate default":  {`{"default": "deny", "default": "allow_session"}`, strictjson.ErrDuplicateKey},
		"null policy":        {`null`, strictjson.ErrNull},
		"null rules":         {`{"rules": null}`, strictjson.ErrNull},
		"null rule":          {`{"rules": [null]}`, strictjson.ErrNull},
		"trailing policy":    {`{"default": "deny"} {"default": "allow_session"}`, strictjson.ErrTrailingData},
		"case-folded key":    {`{"rules": [{"kind": "exec", "Decision": "allow_once"}]}`, strictjson.ErrUnknownField},
		"bad UTF-8":          {"{\"rules\": [{\"kind\": \"exec\", \"app\": \"mail\xff\", \"decision\": \"deny\"}]}", strictjson.ErrInvalidUTF8},
		"number decision":    {`{"rules": [{"kind": "exec", "decision": 1}]}`, strictjson.ErrType},
	}
	// The defence off: encoding/json alone takes the last "decision", and
	// the rule the reader saw as deny lets the mail go.
	var lenient Policy
	if err := json.Unmarshal([]byte(tests["duplicate decision"].policy), &lenient); err != nil || lenient.Rules[0].Decision != msg.AllowOnce {
		t.Fatalf("encoding/json read the duplicate as %+v, %v: the test no longer shows the attack", lenient, err)
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tt.policy), e.Catalog())
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParsePolicy = %+v, %v; want %v", p, err, tt.want)
			}
		})
	}
}

// FuzzParsePolicy: any bytes either are refused or make a policy whose
// every answer is a decision the permission manager knows.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		`{"default": "deny", "rules": [{"kind": "exec", "app": "metro_hail", "function": "*", "decision": "allow_once"}]}`,
		`{"rules": [{"kind": "collab", "requester": "mail", "app": "drive", "decision": "deny"}]}`,
		`{"rules": [{"kind": "pin", "app": "mail", "decision": "allow_session"}], "default": "allow_once"}`,
		`{"rules": [{"decision": "deny", "decision": "allow_once"}]}`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	e, err := engine.New(engine.Config{DataDir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { e.Close() })
	c := e.Catalog()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data, c)
		if err != nil {
			return
		}
		for _, k := range []msg.Kind{msg.Exec, msg.Data, msg.Collab, msg.Pin} {
			for _, app := range []string{"mail", "drive", "metro_hail"} {
				d := p.Decide(msg.Prompt{Kind: k, App: app, Requester: "mail"})
				if _, err := msg.ParseDecision(string(d)); err != nil {
					t.Fatalf("policy %q answers %q: %v", data, d, err)
				}
			}
		}
	})
}
