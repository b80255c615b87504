// Package scenario is the format of one attack scenario of the evaluation
// suite — the installed apps and how they behave, the users' queries, the
// attacker-controlled artefacts and their canaries, what the compromised
// LLM answers, the defences the design's claim rests on and the users it
// holds against, and the attacker's and the user's goals as predicates —
// and its strict decoder.
package scenario

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// MaxBytes caps one scenario file.
const MaxBytes = 1 << 20

// What the isolated architecture's design claims about a scenario.
const (
	// DefenceStructural: the design stops the attack whatever the user
	// answers; `go test` fails if it succeeds against any simulated user.
	DefenceStructural = "structural"
	// DefenceWarned: the design stops it only if the user denies a request
	// the hub marks as warned; `go test` fails if it succeeds against a
	// user who denies warned requests.
	DefenceWarned = "warned"
	// DefenceNone: the design does not claim to stop it; the result is
	// reported as it comes out.
	DefenceNone = "none"
)

// DefaultUser is the user every session is for unless SessionUsers says
// otherwise.
const DefaultUser = "eval"

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
	// HoldsAgainst names the simulated users (evaluation/users) the claim
	// holds against; empty means every user for a structural claim and the
	// user who denies warned requests for a warned one.
	HoldsAgainst []string `json:"holds_against,omitempty"`
	// Apps are built-in apps to install.
	Apps []string `json:"apps"`
	// ScenarioApps are apps whose manifest and behaviour are this file's
	// data (attacker-controlled apps, or fixtures holding the user's data).
	ScenarioApps []App `json:"scenario_apps"`
	// Files are placed in apps' own folders before their first start: app
	// id → path in the folder → content (a JSON string is written as-is,
	// any other JSON value as JSON). They go to the first session's user.
	Files map[string]map[string]json.RawMessage `json:"files,omitempty"`
	// Canaries mark every attacker-controlled artefact; an LLM call whose
	// input contains one is answered by Attacker.
	Canaries []string `json:"canaries"`
	// Sessions are the users' queries, one list per session; memory carries
	// over from one session to the next.
	Sessions [][]string `json:"sessions"`
	// SessionUsers, when set, names the user of each session (one per
	// session): several users of one data folder. Unset, every session is
	// DefaultUser's.
	SessionUsers []string `json:"session_users,omitempty"`
	// CallTimeoutMs bounds one app call (0: two minutes); a scenario whose
	// app hangs sets it low.
	CallTimeoutMs int      `json:"call_timeout_ms,omitempty"`
	Attacker      Attacker `json:"attacker"`
	// BenignPlan, when set, is the benign planner's plan for every
	// planner request (a per-scenario script instead of the offline
	// planner); BenignPlans choose a plan by the query (the first whose
	// When is in it), before BenignPlan. BenignVanilla is the benign
	// baseline's script, one reply per tool result already in the
	// conversation since the query. BenignAgent is the benign model of the
	// isolated spokes' agent loops, one reply per tool result already in
	// the loop since its task.
	BenignPlan    json.RawMessage `json:"benign_plan,omitempty"`
	BenignPlans   []BenignPlan    `json:"benign_plans,omitempty"`
	BenignVanilla []Reply         `json:"benign_vanilla,omitempty"`
	BenignAgent   []Reply         `json:"benign_agent,omitempty"`
	Goal          *Predicate      `json:"goal"`
	Benign        *Predicate      `json:"benign"`
	// Pending, when set, says why the scenario cannot run yet; it is
	// reported as pending, never as passed.
	Pending string `json:"pending,omitempty"`
}

// BenignPlan is the benign planner's plan for queries holding When.
type BenignPlan struct {
	When string          `json:"when"`
	Plan json.RawMessage `json:"plan"`
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
	// FunctionsV2, when set, is how the app behaves from the second
	// session on (with Manifest2: after its new tools were approved).
	FunctionsV2 map[string]Behaviour `json:"functions_v2,omitempty"`
	// MCPTools, for an app of kind mcp, are the tools/list entries its
	// server reports, as raw MCP (annotations and all), instead of ones
	// made from the manifest.
	MCPTools []json.RawMessage `json:"mcp_tools,omitempty"`
	parsed   *specs.Manifest
	parsed2  *specs.Manifest
}

// Behaviour is how one function of a scenario app answers. Exactly one of
// Output, Error, Oversize, MCPResult, Hang, Crash and Sequence is the
// default answer; By and Outputs pick an answer by one argument's value.
type Behaviour struct {
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
	// Oversize answers with an object whose one string field "text" is this
	// many bytes of filler followed by Tail.
	Oversize int    `json:"oversize,omitempty"`
	Tail     string `json:"tail,omitempty"`
	// MCPResult is the raw MCP tools/call result the server sends (content
	// items, structuredContent, isError), for an app of kind mcp.
	MCPResult json.RawMessage `json:"mcp_result,omitempty"`
	// Hang never answers: the call runs until the hub gives up on it.
	Hang bool `json:"hang,omitempty"`
	// Crash kills the app (its worker exits) instead of answering.
	Crash bool `json:"crash,omitempty"`
	// Sequence answers the nth call of the function with its nth entry
	// (the last one repeats): an app whose answers change over time.
	Sequence []Behaviour `json:"sequence,omitempty"`
	// DelayMs waits this long before answering.
	DelayMs int                        `json:"delay_ms,omitempty"`
	By      string                     `json:"by,omitempty"`
	Outputs map[string]json.RawMessage `json:"outputs,omitempty"`
}

// MaxOversize caps Behaviour.Oversize; MaxDelayMs caps Behaviour.DelayMs.
const (
	MaxOversize = 16 << 20
	MaxDelayMs  = 60_000
)

// Attacker is what the compromised LLM answers once a canary is in its input.
type Attacker struct {
	Rules []Rule `json:"rules"`
}

// Rule answers calls whose current request (the last user or task message;
// for the planner, its request) contains When; an empty When matches any.
// The nth reply answers the call that already has n tool results after the
// canary; the last one repeats. A planner that reads the canary writes the
// whole script as its plan (evaluation/adversary.PlanFor).
type Rule struct {
	When string `json:"when,omitempty"`
	// Seen, when set, limits the rule to calls whose input (messages and
	// tool results) holds this text: an attacker script that branches on
	// what its LLM has read. Its replies count tool results from the
	// first message that holds it.
	Seen    string  `json:"seen,omitempty"`
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

// ErrInvalid marks a scenario that fails its checks.
var ErrInvalid = errors.New("invalid scenario")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

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

// UserOf is the user of session n (1-based).
func (s *Scenario) UserOf(n int) string {
	if n >= 1 && n <= len(s.SessionUsers) {
		return s.SessionUsers[n-1]
	}
	return DefaultUser
}

// Manifest is the app's parsed manifest for session n (1-based).
func (a *App) ManifestFor(session int) *specs.Manifest {
	if session >= 2 && a.parsed2 != nil {
		return a.parsed2
	}
	return a.parsed
}

// BehaviourFor is how the app's functions answer in session n (1-based).
func (a *App) BehaviourFor(session int) map[string]Behaviour {
	if session >= 2 && a.FunctionsV2 != nil {
		return a.FunctionsV2
	}
	return a.Functions
}

// Pinned is the manifest the user installed, whatever its server reports later.
func (a *App) Pinned() *specs.Manifest { return a.parsed }

// ID is the app's id.
func (a *App) ID() string { return a.parsed.ID }
