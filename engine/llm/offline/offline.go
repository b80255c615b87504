// Package offline is the built-in offline model: a deterministic, non-neural
// planner that matches a query against the catalog and fills arguments from
// the query. It is not an LLM, and every answer it produces says so.
//
// It answers the two kinds of request the hub makes of a model:
//   - planning: the user message is the planner's JSON request (query,
//     memory, catalog); it returns a plan;
//   - a spoke's agent loop: tools are offered; it calls the tool whose name
//     best matches the task when it can fill the arguments, and once a tool
//     result is in the conversation it reports that result.
package offline

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/planner"
)

// Label is shown beside every answer the offline model produced.
const Label = "offline model (deterministic planner, not an LLM)"

// Model implements llms.Model without any network or neural network. It is
// safe for concurrent use; its only state is a cache of decoded catalogs.
type Model struct {
	catalogs catalogCache
}

// New returns the offline model.
func New() *Model { return &Model{} }

// Call implements the deprecated single-prompt interface.
func (m *Model) Call(ctx context.Context, prompt string, options ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, options...)
}

// GenerateContent answers a planner request or one turn of an agent loop.
func (m *Model) GenerateContent(ctx context.Context, messages []llms.MessageContent, options ...llms.CallOption) (*llms.ContentResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var opts llms.CallOptions
	for _, o := range options {
		o(&opts)
	}
	first, last := humanTexts(messages)
	if req, ok := m.plannerRequest(first); ok {
		if strings.HasPrefix(last, planner.RejectionPrefix) {
			return nil, fmt.Errorf("offline model: cannot repair a rejected plan (%s)", strings.TrimPrefix(last, planner.RejectionPrefix))
		}
		text, err := Plan(req)
		if err != nil {
			return nil, err
		}
		return textReply(text), nil
	}
	return agentTurn(messages, opts.Tools), nil
}

func humanTexts(messages []llms.MessageContent) (first, last string) {
	seen := false
	for _, mc := range messages {
		if mc.Role != llms.ChatMessageTypeHuman {
			continue
		}
		var b strings.Builder
		for _, p := range mc.Parts {
			if t, ok := p.(llms.TextContent); ok {
				b.WriteString(t.Text)
			}
		}
		if !seen {
			first, seen = b.String(), true
		}
		last = b.String()
	}
	return first, last
}

func textReply(s string) *llms.ContentResponse {
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: s, StopReason: "stop"}}}
}

// Plan writes a plan for a planner request. A query it cannot represent
// gets a plan with no steps and an answer that says why (Refused).
func Plan(req planner.Request) (string, error) {
	// Everything read off the query ends up in a JSON plan, where bad UTF-8
	// would turn into longer U+FFFD runes behind the size checks' back.
	req.Query = strings.ToValidUTF8(req.Query, "\uFFFD")
	b := &builder{f: readFacts(req.Query), query: req.Query}
	b.plan(req.Catalog)
	if reason := b.refusal(req.Catalog); reason != "" {
		b.refuse(reason)
	}
	return b.json()
}

func (b *builder) plan(catalog []plan.AppEntry) {
	if w, app := nearMiss(instruction(b.query), catalog); w != "" {
		b.refuse(fmt.Sprintf("it names %q, which is not an installed app (did you mean %s?).", w, app))
		return
	}
	// Mail and file queries first: they chain apps ("send … with the file
	// from drive"), which matching app names alone would not.
	if b.mail(catalog) {
		return
	}
	mentioned := mentionedApps(b.f, catalog)
	if len(mentioned) == 0 {
		// No app named: take the function whose name the query matches
		// best, if one matches clearly.
		if a, fn, ok := bestFunction(b.f, catalog); ok {
			mentioned = []plan.AppEntry{{App: a.App, Kind: a.Kind, Functions: []plan.FunctionEntry{fn}}}
		}
	}
	if len(mentioned) == 0 {
		b.p.Answer = "The " + Label + " found no installed app for this query. Name an app (" +
			strings.Join(appIDs(catalog), ", ") + ") or configure an LLM with --llm."
		return
	}
	if op := b.f.superlative(); op != "" && len(mentioned) >= 2 && b.compare(mentioned, op) {
		return
	}
	for _, a := range mentioned {
		if reason := b.useApp(a); reason != "" {
			b.refuse(reason)
			return
		}
	}
}

// mentionedApps are the apps the query names. A plain word that is also an
// app's id counts only when no app is named outright: in "list my files in
// drive" the app is drive, whatever else is installed.
func mentionedApps(f facts, catalog []plan.AppEntry) []plan.AppEntry {
	var named, words []plan.AppEntry
	for _, a := range catalog {
		switch f.mentions(a.App) {
		case mentionName:
			named = append(named, a)
		case mentionWord:
			words = append(words, a)
		}
	}
	if len(named) > 0 {
		return named
	}
	return words
}

type builder struct {
	f      facts
	query  string
	p      plan.Plan
	answer []string
	n      int
}

func (b *builder) json() (string, error) {
	if len(b.answer) > 0 {
		b.p.Answer = strings.Join(b.answer, "\n")
	}
	if b.p.Steps == nil {
		b.p.Steps = []plan.Step{}
	}
	out, err := json.Marshal(b.p)
	if err != nil {
		return "", fmt.Errorf("offline model: encode plan: %w", err)
	}
	return string(out), nil
}

func (b *builder) id(prefix string) string {
	b.n++
	return fmt.Sprintf("%s%d", prefix, b.n)
}

// compare plans "estimate on every app, choose the lowest (or highest),
// then act on the chosen app" when the apps share a numeric read function.
func (b *builder) compare(apps []plan.AppEntry, op string) bool {
	measure, field := commonNumeric(apps)
	if measure == "" {
		return false
	}
	// Fill every app's arguments before adding a step, so that a plan that
	// falls back to useApp holds no half-built comparison.
	all := make([]map[string]any, len(apps))
	for i, a := range apps {
		fn, _ := function(a, measure)
		args, missing := b.f.fill(fn.Input)
		if len(missing) > 0 {
			return false
		}
		all[i] = args
	}
	var ids []string
	for i, a := range apps {
		id := b.id("s")
		b.p.Steps = append(b.p.Steps, plan.Step{ID: id, App: a.App, Function: measure, Args: rawArgs(all[i])})
		b.answer = append(b.answer, fmt.Sprintf("%s %s: {{%s.%s}}", a.App, field, id, field))
		ids = append(ids, id)
	}
	word := map[string]string{"min": "Lowest", "max": "Highest"}[op]
	choice := "choice"
	b.p.Steps = append(b.p.Steps, plan.Step{ID: choice, Op: op, Of: ids, Field: field})
	b.answer = append(b.answer, fmt.Sprintf("%s %s: {{%s.value}} from {{%s.app}}.", word, field, choice, choice))
	// The action: a write function every app offers whose name the query
	// mentions ("book" in "book the cheapest ride").
	if act := commonAction(apps, b.f); act != "" {
		fn, _ := function(apps[0], act)
		args, ok := sameArgs(apps, act, b.f)
		if ok {
			b.p.Steps = append(b.p.Steps, plan.Step{ID: "act", On: choice, Function: act, Args: rawArgs(args)})
			b.answer = append(b.answer, fmt.Sprintf("%s with {{%s.app}}: %s", words(act), choice, fields("act", fn.Output)))
		}
	}
	return true
}

// useApp adds the steps for one app: the functions the query names, or the
// only function, or an agent step when arguments cannot be read off the
// query. It returns a reason to refuse the query when the function is a
// write whose arguments the query gives but does not tell apart.
func (b *builder) useApp(a plan.AppEntry) string {
	if len(a.Functions) == 0 {
		b.agent(a.App)
		return ""
	}
	var chosen []plan.FunctionEntry
	bestScore := 0
	for _, fn := range a.Functions {
		if s := b.f.score(fn.Name); s > bestScore {
			bestScore, chosen = s, []plan.FunctionEntry{fn}
		} else if s == bestScore && s > 0 {
			chosen = append(chosen, fn)
		}
	}
	if len(chosen) == 0 && len(a.Functions) == 1 {
		chosen = a.Functions
	}
	if len(chosen) != 1 {
		b.agent(a.App)
		return ""
	}
	fn := chosen[0]
	args, missing := b.f.fill(fn.Input)
	if len(missing) > 0 {
		if loose := b.f.loose(args); fn.Effect == "write" && len(loose) > 0 {
			return fmt.Sprintf("it gives %s but does not say which is %s of %s.%s (say \"from … to …\", \"named …\", \"with content …\").",
				quoteList(loose), strings.Join(missing, " or "), a.App, fn.Name)
		}
		b.agent(a.App)
		return ""
	}
	id := b.id("s")
	b.p.Steps = append(b.p.Steps, plan.Step{ID: id, App: a.App, Function: fn.Name, Args: rawArgs(args)})
	b.answer = append(b.answer, fmt.Sprintf("%s %s: %s", a.App, words(fn.Name), fields(id, fn.Output)))
	return ""
}

func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

func (b *builder) agent(app string) {
	id := b.id("s")
	b.p.Steps = append(b.p.Steps, plan.Step{ID: id, App: app, Agent: agentTask(b.query)})
	b.answer = append(b.answer, fmt.Sprintf("%s: {{%s.text}}", app, id))
}

func bestFunction(f facts, catalog []plan.AppEntry) (plan.AppEntry, plan.FunctionEntry, bool) {
	type cand struct {
		a  plan.AppEntry
		fn plan.FunctionEntry
		s  int
	}
	var best []cand
	for _, a := range catalog {
		for _, fn := range a.Functions {
			s := f.score(fn.Name)
			if s < 2 {
				continue
			}
			if len(best) == 0 || s > best[0].s {
				best = []cand{{a, fn, s}}
			} else if s == best[0].s {
				best = append(best, cand{a, fn, s})
			}
		}
	}
	if len(best) != 1 {
		return plan.AppEntry{}, plan.FunctionEntry{}, false
	}
	return best[0].a, best[0].fn, true
}

// commonNumeric finds a read function all apps offer whose output has a
// number field, and that field.
func commonNumeric(apps []plan.AppEntry) (string, string) {
	for _, fn := range apps[0].Functions {
		if fn.Effect == "write" {
			continue
		}
		field := numericField(fn.Output)
		if field == "" {
			continue
		}
		ok := true
		for _, a := range apps[1:] {
			other, found := function(a, fn.Name)
			if !found || numericField(other.Output) != field {
				ok = false
			}
		}
		if ok {
			return fn.Name, field
		}
	}
	return "", ""
}

// commonAction finds a write function every app offers whose verb, the
// first word of its name, the query uses: "book" in "book the cheapest
// ride". A noun alone ("the cheapest ride") asks for no action.
func commonAction(apps []plan.AppEntry, f facts) string {
	for _, fn := range apps[0].Functions {
		verb, _, _ := strings.Cut(fn.Name, "_")
		if fn.Effect != "write" || !(f.words[fn.Name] || f.has(verb)) {
			continue
		}
		ok := true
		for _, a := range apps[1:] {
			if _, found := function(a, fn.Name); !found {
				ok = false
			}
		}
		if ok {
			return fn.Name
		}
	}
	return ""
}

// sameArgs fills the arguments of function name for every app; a call "on"
// an operator's choice passes the same arguments whichever app is chosen, so
// they must be complete and the same for all.
func sameArgs(apps []plan.AppEntry, name string, f facts) (map[string]any, bool) {
	var first []byte
	var args map[string]any
	for i, a := range apps {
		fn, _ := function(a, name)
		got, missing := f.fill(fn.Input)
		if len(missing) > 0 {
			return nil, false
		}
		enc, err := json.Marshal(got)
		if err != nil {
			return nil, false
		}
		if i == 0 {
			first, args = enc, got
		} else if string(enc) != string(first) {
			return nil, false
		}
	}
	return args, true
}

// agentTask is the query as an agent step's task, cut on a rune boundary to
// the size a plan allows.
func agentTask(q string) string {
	if len(q) <= plan.MaxAgentTaskLen {
		return q
	}
	cut := plan.MaxAgentTaskLen
	for cut > 0 && !utf8.RuneStart(q[cut]) {
		cut--
	}
	return q[:cut]
}

func numericField(out map[string]any) string {
	props, _ := out["properties"].(map[string]any)
	for _, k := range slices.Sorted(maps.Keys(props)) {
		p, _ := props[k].(map[string]any)
		if t, _ := p["type"].(string); t == "number" || t == "integer" {
			return k
		}
	}
	return ""
}

func function(a plan.AppEntry, name string) (plan.FunctionEntry, bool) {
	for _, fn := range a.Functions {
		if fn.Name == name {
			return fn, true
		}
	}
	return plan.FunctionEntry{}, false
}

func fields(id string, out map[string]any) string {
	props, _ := out["properties"].(map[string]any)
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(props)) {
		parts = append(parts, fmt.Sprintf("%s {{%s.%s}}", k, id, k))
	}
	return strings.Join(parts, ", ")
}

func words(name string) string { return strings.ReplaceAll(name, "_", " ") }

func appIDs(c []plan.AppEntry) []string {
	out := make([]string, 0, len(c))
	for _, a := range c {
		out = append(out, a.App)
	}
	return out
}

func rawArgs(args map[string]any) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(args))
	for k, v := range args {
		b, _ := json.Marshal(v)
		out[k] = b
	}
	return out
}

func jsonNumber(s string) json.Number { return json.Number(s) }
