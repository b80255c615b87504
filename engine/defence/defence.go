// Package defence names the hub's defences so that one can be switched off
// on purpose — by the evaluation's ablation only — and a test can show that
// the attack it stops then succeeds. The zero Set has every defence on;
// nothing outside the evaluation builds any other.
package defence

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Name is one defence.
type Name string

// The defences. Each is checked at exactly one enforcement point; the
// comment says where. Add new ones here (and to described) — the
// evaluation's ablation refuses a scenario naming an unknown defence.
//
// Switched off, each behaves as the original IsolateGPT (or a system
// without the defence) does at that point, so the evaluation's ablation can
// show what the defence stops.
const (
	// PlannerIsolation: the planner sees identifiers and typed schemas only,
	// never an app's description (engine/planner). Off: the planner's
	// request carries every app's and function's description, as SecGPT's
	// planner reads them.
	PlannerIsolation Name = "planner_isolation"
	// MemoryIsolation: the hub's memory holds the user's queries and the
	// hub's own facts about each step, never an app's output
	// (actors/query). Off: each step's result is remembered too, as
	// SecGPT's hub memory records app responses.
	MemoryIsolation Name = "memory_isolation"
	// ISCMediation: an app reaches another app only after the user allows
	// the collaboration and the release of its result (actors/hub/isc.go).
	// Off: the hub forwards the request and releases the result unasked.
	ISCMediation Name = "isc_mediation"
	// HubWarnings: the hub marks a prompt with its own warning when the
	// flow deserves a second look (actors/permission). Off: no prompt
	// carries a warning.
	HubWarnings Name = "hub_warnings"
	// OutputSchema: every step's result is validated against the
	// function's declared output schema before anything sees it
	// (engine/execute). Off: any JSON result is accepted as it is.
	OutputSchema Name = "output_schema"
	// OutputCap: an app's result is capped in size, by the hub
	// (engine/execute) and by the sandbox's launcher, configured from the
	// same switch (engine, evaluation). Off: any size is read.
	OutputCap Name = "output_cap"
	// PinCheck: an MCP server's tools/list is checked against its pin at
	// every start of its worker (actors/spoke). Off: whatever it reports
	// runs.
	PinCheck Name = "pin_check"
	// HubChoice: choices across apps (min, max) are made by the hub on
	// typed values (engine/execute). Off: an LLM that reads the candidate
	// steps' results chooses, as ACE's execution manager does.
	HubChoice Name = "hub_choice"
	// DirectCalls: a step whose arguments are complete calls its app
	// directly, read by no LLM (engine/execute). Off: the step runs in its
	// app's agent loop, whose LLM reads the app's output, as every app
	// invocation does in IsolateGPT.
	DirectCalls Name = "direct_calls"
	// HubAnswer: the answer is the plan's template, written before any app
	// ran, filled by the hub with typed values (engine/execute). Off: an
	// LLM that reads every step's result writes it, as IsolateGPT's
	// routing spoke and ACE's execution manager do.
	HubAnswer Name = "hub_answer"
	// CallLimit: the hub gives up on an app call after its wall-clock
	// limit, and the step fails alone (engine). Off: the hub waits as long
	// as the query may take.
	CallLimit Name = "call_limit"
	// UserSeparation: each user of a data folder has their own memory,
	// grants and app folders (actors/hub). Off: every session is the same
	// user's.
	UserSeparation Name = "user_separation"
	// WorkerPerUser: a pooled spoke and its worker serve one user's app
	// across that user's sessions, never another user's (actors/hub
	// poolKey). Off: spokes are pooled by app alone, so one user's step
	// runs in a worker started for another, with that user's app folder.
	WorkerPerUser Name = "worker_per_user"

	// Information flow (issue #10). Each is checked at the one place named.

	// LiteralProvenance: a plan literal is "from you" only when it occurs
	// in the query exactly; otherwise it is the planner's, and may carry
	// the user's earlier queries (engine/execute, labelling literals).
	LiteralProvenance Name = "literal_provenance"
	// OperatorLabels: an operator's result, which app won included,
	// carries the labels of every step it compared (engine/execute runOp).
	OperatorLabels Name = "operator_labels"
	// AppChosenActions: an action an app chose (ISC, its assistant) is
	// never "in the plan" and is always warned (actors/hub).
	AppChosenActions Name = "app_chosen_actions"
	// AppDataWrites: a write whose arguments carry app output is warned,
	// same app or another (actors/permission Warning).
	AppDataWrites Name = "app_data_writes"
	// GrantScope: grants are keyed by everything the prompt showed and
	// never answer a request the hub warns about (actors/permission).
	GrantScope Name = "grant_scope"
	// CatalogIdentifiers: no app-written string but identifiers reaches
	// the planner's catalog or an assistant's peer list (engine/plan View).
	CatalogIdentifiers Name = "catalog_identifiers"
	// SafeText: app text in answers is escaped and quoted (engine/execute
	// Render).
	SafeText Name = "safe_text"
	// PinByPerson: a changed tools/list is re-pinned only by a person or
	// an explicit pin rule, never by --yes or a policy default
	// (actors/permission).
	PinByPerson Name = "pin_by_person"
	// UniformRefusals: a requesting app cannot tell a denial from a
	// failure, and never sees another app's error text (actors/hub).
	UniformRefusals Name = "uniform_refusals"
	// SpokeMemoryTasks: an app's assistant is shown its earlier tasks,
	// never its earlier answers (actors/spoke).
	SpokeMemoryTasks Name = "spoke_memory_tasks"
	// ConsentBound: an app gets at most a few prompts per query; past
	// that its requests are denied without asking (actors/permission).
	ConsentBound Name = "consent_bound"
)

// described is every defence with one line on what it stops.
var described = map[Name]string{
	PlannerIsolation: "the planner never reads app-authored text",
	MemoryIsolation:  "the hub's memory never holds app output",
	ISCMediation:     "an app reaches another app only with the user's consent, through the hub",
	HubWarnings:      "the hub warns on risky flows (outside the plan, across apps, from earlier queries, chosen by an app)",
	OutputSchema:     "app results are checked against their declared output schema",
	OutputCap:        "app results are capped in size",
	PinCheck:         "an MCP server's tools are checked against their pin",
	HubChoice:        "cross-app choices are made by the hub on typed values, not by an LLM",
	DirectCalls:      "steps with complete arguments call their app with no LLM",
	HubAnswer:        "the answer is the hub's template filled with typed values, written by no LLM that read app outputs",
	CallLimit:        "a call past its wall-clock limit fails alone",
	UserSeparation:   "users of one data folder never share memory, grants or app data",
	WorkerPerUser:    "a pooled worker serves one user's sessions, never another user's",

	LiteralProvenance:  "a plan literal is the user's only when it occurs in the query; otherwise the planner's, possibly carrying earlier queries",
	OperatorLabels:     "an operator's result carries the labels of every step it compared",
	AppChosenActions:   "an action an app chose is never in the plan and is always warned",
	AppDataWrites:      "a write whose arguments carry app output is warned, same app or another",
	GrantScope:         "grants are keyed by everything the prompt showed and never answer a warned request",
	CatalogIdentifiers: "no app-written string but identifiers reaches the planner or an assistant's peer list",
	SafeText:           "app text in answers is escaped and quoted",
	PinByPerson:        "a changed tools/list is re-pinned only by a person or an explicit pin rule",
	UniformRefusals:    "a requesting app cannot tell a denial from a failure or read another app's error text",
	SpokeMemoryTasks:   "an app's assistant is shown its earlier tasks, never its earlier answers",
	ConsentBound:       "an app gets a bounded number of prompts per query; past it its requests are denied unasked",
}

// Set is which defences are on. The zero value has every defence on.
type Set struct {
	off map[Name]bool
}

// Off returns the set with the named defences switched off; an unknown
// name is an error, so a typo cannot leave a defence on unnoticed.
func Off(names ...Name) (Set, error) {
	s := Set{off: map[Name]bool{}}
	for _, n := range names {
		if _, ok := described[n]; !ok {
			return Set{}, fmt.Errorf("unknown defence %q (known: %s)", n, strings.Join(names2strings(All()), ", "))
		}
		s.off[n] = true
	}
	return s, nil
}

// On reports whether defence n is on.
func (s Set) On(n Name) bool { return !s.off[n] }

// Disabled lists the defences switched off, sorted.
func (s Set) Disabled() []Name {
	var out []Name
	for n, off := range s.off {
		if off {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Known reports whether n names a defence.
func Known(n Name) bool { _, ok := described[n]; return ok }

// Describe says in a line what defence n stops.
func Describe(n Name) string { return described[n] }

// All lists every defence, sorted.
func All() []Name {
	out := make([]Name, 0, len(described))
	for n := range described {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func names2strings(ns []Name) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = string(n)
	}
	return out
}
