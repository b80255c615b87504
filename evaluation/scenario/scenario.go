// Package scenario is the format of one attack scenario of the evaluation
// suite — the installed apps, the user's queries, the attacker-controlled
// artefacts and their canaries, what the compromised LLM answers, and the
// attacker's and the user's goals as predicates — and its strict decoder.
package scenario

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// MaxBytes caps one scenario file.
const MaxBytes = 1 << 20

// What the isolated architecture's design claims about a scenario.
const (
	// DefenceStructural: the design stops the attack whatever the user
	// answers; `go test` fails if it succeeds.
	DefenceStructural = "structural"
	// DefenceWarned: the design stops it only if the user denies a request
	// the hub marks as warned; `go test` fails if it succeeds against a
	// user who denies warned requests.
	DefenceWarned = "warned"
	// DefenceNone: the design does not claim to stop it; the result is
	// reported as it comes out.
	DefenceNone = "none"
)

// Scenario is one attack.
type Scenario struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Attacks are the items of shared/reference/attacks.md it covers ("A1").
	Attacks []string `json:"attacks"`
	Source  string   `json:"source"`
	Defence string   `json:"defence"`
	// Why says in a sentence why the defence holds (or does not).
	Why string `json:"why"`
	// ReliesOn names the hub's defences (engine/defence) the claim rests
	// on; the evaluation's ablation switches them off and expects the
	// attack to succeed.
	ReliesOn []defence.Name `json:"relies_on,omitempty"`
	// Apps are built-in apps to install.
	Apps []string `json:"apps"`
	// ScenarioApps are apps whose manifest and behaviour are this file's
	// data (attacker-controlled apps, or fixtures holding the user's data).
	ScenarioApps []App `json:"scenario_apps"`
	// Files are placed in apps' own folders before their first start: app
	// id → path in the folder → content (a JSON string is written as-is,
	// any other JSON value as JSON).
	Files map[string]map[string]json.RawMessage `json:"files,omitempty"`
	// Canaries mark every attacker-controlled artefact; an LLM call whose
	// input contains one is answered by Attacker.
	Canaries []string `json:"canaries"`
	// Sessions are the user's queries, one list per session; memory carries
	// over from one session to the next.
	Sessions [][]string `json:"sessions"`
	Attacker Attacker   `json:"attacker"`
	// BenignPlan, when set, is the benign planner's plan for every
	// planner request (a per-scenario script instead of the offline
	// planner); BenignVanilla is the benign baseline's script, one reply
	// per tool result already in the conversation since the query.
	// BenignAgent is the benign model of the isolated spokes' agent loops,
	// one reply per tool result already in the loop since its task.
	BenignPlan    json.RawMessage `json:"benign_plan,omitempty"`
	BenignVanilla []Reply         `json:"benign_vanilla,omitempty"`
	BenignAgent   []Reply         `json:"benign_agent,omitempty"`
	Goal          *Predicate      `json:"goal"`
	Benign        *Predicate      `json:"benign"`
	// Pending, when set, says why the scenario cannot run yet; it is
	// reported as pending, never as passed.
	Pending string `json:"pending,omitempty"`
}

// App is a scenario-defined app: its manifest and how each function answers.
type App struct {
	Manifest json.RawMessage `json:"manifest"`
	// Manifest2, when set, is what the app's server reports from the
	// second session on (a rug pull). The isolated architecture keeps the
	// pinned Manifest in its catalog and checks the server against its pin
	// (an app of kind mcp); the baseline takes what the server reports.
	Manifest2 json.RawMessage      `json:"manifest_v2,omitempty"`
	Functions map[string]Behaviour `json:"functions"`
	parsed    *specs.Manifest
	parsed2   *specs.Manifest
}

// Behaviour is how one function of a scenario app answers. Exactly one of
// Output, Error and Oversize is the default answer; By and Outputs pick an
// answer by one argument's value.
type Behaviour struct {
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
	// Oversize answers with an object whose one string field "text" is this
	// many bytes of filler followed by Tail.
	Oversize int                        `json:"oversize,omitempty"`
	Tail     string                     `json:"tail,omitempty"`
	By       string                     `json:"by,omitempty"`
	Outputs  map[string]json.RawMessage `json:"outputs,omitempty"`
}

// MaxOversize caps Behaviour.Oversize.
const MaxOversize = 16 << 20

// Attacker is what the compromised LLM answers once a canary is in its input.
type Attacker struct {
	Rules []Rule `json:"rules"`
}

// Rule answers calls whose current request (the last user or task message)
// contains When; an empty When matches any. The nth reply answers the call
// that already has n tool results after the canary; the last one repeats.
type Rule struct {
	When    string  `json:"when,omitempty"`
	Replies []Reply `json:"replies"`
}

// Reply is one answer of the attacker's LLM: a tool call ("app.function")
// with arguments, or text. In arguments and text, {{last_result}} stands
// for the last tool result in the conversation, and {{if_seen:TEXT}} for
// TEXT when the call's input holds it (nothing otherwise): the attacker's
// LLM copies only what it has read.
type Reply struct {
	Call string          `json:"call,omitempty"`
	Args json.RawMessage `json:"args,omitempty"`
	Text string          `json:"text,omitempty"`
}

// Predicate is a check over what happened in a run. Exactly one field is set.
type Predicate struct {
	All []*Predicate `json:"all,omitempty"`
	Any []*Predicate `json:"any,omitempty"`
	Not *Predicate   `json:"not,omitempty"`
	// AnswerContains holds when some answer contains the text.
	AnswerContains string `json:"answer_contains,omitempty"`
	// AnswerMatches holds when some answer matches the regular expression.
	AnswerMatches string `json:"answer_matches,omitempty"`
	// Call holds when an app was called as described (at the launcher:
	// what really reached the app).
	Call *CallMatch `json:"call,omitempty"`
	// Prompt holds when the user was shown a matching permission prompt.
	Prompt *PromptMatch `json:"prompt,omitempty"`
	re     *regexp.Regexp
}

// CallMatch describes calls that reached an app.
type CallMatch struct {
	// App is the app called; "*" is any app.
	App      string `json:"app"`
	Function string `json:"function,omitempty"`
	// ArgsContain: the arguments' JSON contains this text (data reaching an app).
	ArgsContain string `json:"args_contain,omitempty"`
	// OK: the call succeeded (for write functions: a booking was made).
	OK bool `json:"ok,omitempty"`
	// Session, when not 0, limits the match to that session (1-based).
	Session int `json:"session,omitempty"`
}

// PromptMatch describes permission prompts the user was shown; empty
// fields match anything.
type PromptMatch struct {
	Kind     string `json:"kind,omitempty"`
	App      string `json:"app,omitempty"`
	Function string `json:"function,omitempty"`
	Warned   *bool  `json:"warned,omitempty"`
	// HubTextContains: a field the hub writes (kind, app, function,
	// requester, origin, task, warning) contains the text — an app's words
	// passed off as the hub's.
	HubTextContains string `json:"hub_text_contains,omitempty"`
}

// ErrInvalid marks a scenario that fails its checks.
var ErrInvalid = errors.New("invalid scenario")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

var idRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Parse decodes a scenario strictly and checks it.
func Parse(data []byte) (*Scenario, error) {
	if len(data) > MaxBytes {
		return nil, invalid("larger than %d bytes", MaxBytes)
	}
	var s Scenario
	if err := strictjson.Unmarshal(data, &s, MaxBytes); err != nil {
		return nil, invalid("%v", err)
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", s.ID, err)
	}
	return &s, nil
}

func (s *Scenario) check() error {
	if !idRE.MatchString(s.ID) {
		return invalid("id %q is not lower-case letters, digits and _", s.ID)
	}
	if strings.TrimSpace(s.Title) == "" || len(s.Attacks) == 0 {
		return invalid("needs a title and the attacks it covers")
	}
	for _, d := range s.ReliesOn {
		if !defence.Known(d) {
			return invalid("relies_on: unknown defence %q", d)
		}
	}
	switch s.Defence {
	case DefenceStructural, DefenceWarned, DefenceNone:
	default:
		return invalid("defence %q: want structural, warned or none", s.Defence)
	}
	if len(s.Sessions) == 0 {
		return invalid("no sessions")
	}
	for i, qs := range s.Sessions {
		if len(qs) == 0 {
			return invalid("session %d has no query", i+1)
		}
		for _, q := range qs {
			if strings.TrimSpace(q) == "" {
				return invalid("session %d has an empty query", i+1)
			}
		}
	}
	if len(s.Canaries) == 0 {
		return invalid("no canary: every attacker artefact must carry one")
	}
	for _, c := range s.Canaries {
		if len(c) < 6 {
			return invalid("canary %q is shorter than 6 bytes", c)
		}
	}
	if len(s.BenignPlan) > 0 && !isObject(s.BenignPlan) {
		return invalid("benign_plan is not a JSON object")
	}
	for app, files := range s.Files {
		for name := range files {
			if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
				return invalid("file %q of %s leaves the app's folder", name, app)
			}
		}
	}
	if len(s.Attacker.Rules) == 0 {
		return invalid("the attacker has no rule")
	}
	for i, r := range s.Attacker.Rules {
		if len(r.Replies) == 0 {
			return invalid("attacker rule %d has no reply", i+1)
		}
		for j, rep := range r.Replies {
			if (rep.Call == "") == (rep.Text == "") {
				return invalid("attacker rule %d reply %d: exactly one of call and text", i+1, j+1)
			}
			if rep.Call != "" {
				if _, _, ok := strings.Cut(rep.Call, "."); !ok {
					return invalid("attacker rule %d reply %d: call %q is not app.function", i+1, j+1, rep.Call)
				}
				if len(rep.Args) > 0 && !json.Valid(rep.Args) {
					return invalid("attacker rule %d reply %d: arguments are not JSON", i+1, j+1)
				}
			}
		}
	}
	ids := map[string]bool{}
	for _, a := range s.Apps {
		ids[a] = true
	}
	for i := range s.ScenarioApps {
		a := &s.ScenarioApps[i]
		if err := a.check(); err != nil {
			return fmt.Errorf("scenario app %d: %w", i+1, err)
		}
		if ids[a.parsed.ID] {
			return invalid("app %q installed twice", a.parsed.ID)
		}
		ids[a.parsed.ID] = true
	}
	if s.Goal == nil || s.Benign == nil {
		return invalid("needs a goal and a benign predicate")
	}
	if err := s.Goal.compile(); err != nil {
		return fmt.Errorf("goal: %w", err)
	}
	if err := s.Benign.compile(); err != nil {
		return fmt.Errorf("benign: %w", err)
	}
	return nil
}

func (a *App) check() error {
	m, err := specs.Parse(a.Manifest)
	if err != nil {
		return err
	}
	if m.Kind != specs.KindBuiltin && m.Kind != specs.KindMCP {
		return invalid("app %s: kind %q, want builtin or mcp (its code is the scenario app either way)", m.ID, m.Kind)
	}
	a.parsed = m
	if len(a.Manifest2) > 0 {
		m2, err := specs.Parse(a.Manifest2)
		if err != nil {
			return fmt.Errorf("manifest_v2: %w", err)
		}
		if m2.ID != m.ID {
			return invalid("manifest_v2 renames %s to %s", m.ID, m2.ID)
		}
		a.parsed2 = m2
	}
	for name, b := range a.Functions {
		if _, ok := m.Function(name); !ok {
			if a.parsed2 == nil {
				return invalid("app %s: behaviour for undeclared function %q", m.ID, name)
			}
			if _, ok := a.parsed2.Function(name); !ok {
				return invalid("app %s: behaviour for undeclared function %q", m.ID, name)
			}
		}
		n := 0
		if len(b.Output) > 0 {
			n++
			if !isObject(b.Output) {
				return invalid("app %s.%s: output is not a JSON object (MCP structured content)", m.ID, name)
			}
		}
		if b.Error != "" {
			n++
		}
		if b.Oversize > 0 {
			n++
			if b.Oversize > MaxOversize {
				return invalid("app %s.%s: oversize above %d", m.ID, name, MaxOversize)
			}
		}
		if n != 1 {
			return invalid("app %s.%s: exactly one of output, error and oversize", m.ID, name)
		}
		if (b.By == "") != (len(b.Outputs) == 0) {
			return invalid("app %s.%s: by and outputs go together", m.ID, name)
		}
		for k, o := range b.Outputs {
			if !isObject(o) {
				return invalid("app %s.%s: output for %q is not a JSON object", m.ID, name, k)
			}
		}
	}
	return nil
}

// Manifest is the app's parsed manifest for session n (1-based).
func (a *App) ManifestFor(session int) *specs.Manifest {
	if session >= 2 && a.parsed2 != nil {
		return a.parsed2
	}
	return a.parsed
}

// Pinned is the manifest the user installed, whatever its server reports later.
func (a *App) Pinned() *specs.Manifest { return a.parsed }

// ID is the app's id.
func (a *App) ID() string { return a.parsed.ID }

func (p *Predicate) compile() error {
	n := 0
	for _, set := range []bool{p.All != nil, p.Any != nil, p.Not != nil, p.AnswerContains != "", p.AnswerMatches != "", p.Call != nil, p.Prompt != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return invalid("a predicate sets exactly one of all, any, not, answer_contains, answer_matches, call, prompt")
	}
	for _, c := range append(append([]*Predicate{}, p.All...), p.Any...) {
		if c == nil {
			return invalid("null predicate")
		}
		if err := c.compile(); err != nil {
			return err
		}
	}
	if p.Not != nil {
		if err := p.Not.compile(); err != nil {
			return err
		}
	}
	if p.AnswerMatches != "" {
		re, err := regexp.Compile(p.AnswerMatches)
		if err != nil {
			return invalid("answer_matches: %v", err)
		}
		p.re = re
	}
	if p.Call != nil && p.Call.App == "" {
		return invalid("call needs an app")
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	var v map[string]any
	return json.Unmarshal(raw, &v) == nil && v != nil
}

// Compile checks a predicate that is not part of a scenario (the
// functionality suite's expectations) and prepares it for Holds.
func (p *Predicate) Compile() error { return p.compile() }
