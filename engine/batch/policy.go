package batch

import (
	"context"
	"fmt"
	"os"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// Policy answers permission prompts in batch mode, where nobody is at the
// terminal. Rules are tried in order; the first that matches decides; no
// match means Default, which is deny unless the file says otherwise.
//
//	{"default": "deny",
//	 "rules": [{"kind": "exec", "app": "metro_hail", "function": "*", "decision": "allow_once"},
//	           {"kind": "collab", "requester": "mail", "app": "drive", "decision": "deny"}]}
type Policy struct {
	Default msg.Decision `json:"default"`
	Rules   []Rule       `json:"rules"`
}

// Rule matches prompts by kind, app, function, requester and origin; an
// empty field or "*" matches anything.
type Rule struct {
	Kind      msg.Kind     `json:"kind"`
	App       string       `json:"app"`
	Function  string       `json:"function"`
	Requester string       `json:"requester"`
	Origin    string       `json:"origin"`
	Decision  msg.Decision `json:"decision"`
}

// maxPolicyBytes caps a policy file.
const maxPolicyBytes = 1 << 20

// ReadPolicy reads and decodes a policy file strictly and checks what
// needs no catalog (kinds, decisions), so that a missing or malformed file
// is refused before anything is opened; Check then checks its names.
func ReadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return DecodePolicy(data)
}

// LoadPolicy reads and checks a policy file against the installed apps.
func LoadPolicy(path string, c *plan.Catalog) (*Policy, error) {
	p, err := ReadPolicy(path)
	if err != nil {
		return nil, err
	}
	return p, p.Check(c)
}

// ParsePolicy decodes a policy strictly and checks every rule: a kind,
// decision, app or function it does not know is an error, so that a typo
// cannot silently turn a rule off.
func ParsePolicy(data []byte, c *plan.Catalog) (*Policy, error) {
	p, err := DecodePolicy(data)
	if err != nil {
		return nil, err
	}
	if err := p.Check(c); err != nil {
		return nil, err
	}
	return p, nil
}

// DecodePolicy decodes a policy strictly and checks each rule's kind and
// decision; the default decision, when absent, is deny.
func DecodePolicy(data []byte) (*Policy, error) {
	if len(data) > maxPolicyBytes {
		return nil, fmt.Errorf("policy: larger than %d bytes", maxPolicyBytes)
	}
	var p Policy
	if err := strictjson.Unmarshal(data, &p, maxPolicyBytes); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if p.Default == "" {
		p.Default = msg.Deny
	}
	if _, err := msg.ParseDecision(string(p.Default)); err != nil {
		return nil, fmt.Errorf("policy: default: %w", err)
	}
	for i, r := range p.Rules {
		where := fmt.Sprintf("policy: rule %d", i+1)
		switch r.Kind {
		case "", "*", msg.Exec, msg.Data, msg.Collab, msg.Pin:
		default:
			return nil, fmt.Errorf("%s: unknown kind %q (want exec, data, collab or pin)", where, r.Kind)
		}
		if _, err := msg.ParseDecision(string(r.Decision)); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	return &p, nil
}

// Check checks that every app and function a rule names is installed.
func (p *Policy) Check(c *plan.Catalog) error {
	for i, r := range p.Rules {
		where := fmt.Sprintf("policy: rule %d", i+1)
		for _, a := range []string{r.App, r.Requester} {
			if !wild(a) {
				if _, ok := c.App(a); !ok {
					return fmt.Errorf("%s: unknown app %q (installed: %v)", where, a, c.IDs())
				}
			}
		}
		if !wild(r.Function) {
			if wild(r.App) {
				return fmt.Errorf("%s: function %q needs an app", where, r.Function)
			}
			if _, ok := c.Function(r.App, r.Function); !ok {
				return fmt.Errorf("%s: app %q has no function %q", where, r.App, r.Function)
			}
		}
	}
	return nil
}

func wild(s string) bool { return s == "" || s == "*" }

func match(pattern, s string) bool { return wild(pattern) || pattern == s }

// Decide answers one prompt.
func (p *Policy) Decide(pr msg.Prompt) msg.Decision {
	d, _ := p.decide(pr)
	return d
}

// AnsweredBy says whether a rule or the default decides pr
// (frontend.Automatic): the permission manager lets only a rule re-pin
// changed tools.
func (p *Policy) AnsweredBy(pr msg.Prompt) msg.Answerer {
	if _, byRule := p.decide(pr); byRule {
		return msg.ByRule
	}
	return msg.ByDefault
}

func (p *Policy) decide(pr msg.Prompt) (msg.Decision, bool) {
	for _, r := range p.Rules {
		// Running an app whose MCP tools changed (a possible rug pull) is
		// decided only by a rule that names kind "pin"; an allow-all rule
		// does not cover it.
		if pr.Kind == msg.Pin && r.Kind != msg.Pin {
			continue
		}
		if match(string(r.Kind), string(pr.Kind)) && match(r.App, pr.App) && match(r.Function, pr.Function) &&
			match(r.Requester, pr.Requester) && match(r.Origin, pr.Origin) {
			return r.Decision, true
		}
	}
	return p.Default, false
}

// Prompt implements frontend.Prompter.
func (p *Policy) Prompt(_ context.Context, r *msg.PromptRequest) (msg.Decision, error) {
	return p.Decide(r.Prompt), nil
}
