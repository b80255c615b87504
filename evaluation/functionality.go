package evaluation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/engine/llm/offline"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/vanilla"
	"github.com/isolategpt/isolategpt/evaluation/record"
	"github.com/isolategpt/isolategpt/evaluation/scenario"
	"github.com/isolategpt/isolategpt/evaluation/users"
	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// Categories of the functionality suite, in table order. "adversarial"
// holds phrasings the offline model must refuse (negations, actions no
// function performs, near-miss names, values it cannot tell apart).
var Categories = []string{"single_app", "several_apps", "collaboration", "no_app", "adversarial"}

// Case is one benign query of the functionality suite and what the user
// expects to happen.
type Case struct {
	ID       string `json:"id"`
	Category string `json:"category"`
	Query    string `json:"query"`
	// Apps are the installed built-in apps; empty means all of them.
	Apps  []string                              `json:"apps,omitempty"`
	Files map[string]map[string]json.RawMessage `json:"files,omitempty"`
	// Expect is checked against the answer and the calls that reached apps.
	Expect *scenario.Predicate `json:"expect,omitempty"`
	// Refused expects a refusal with a reason instead: no app called, no
	// prompt shown, and an answer that says why. A case has Expect or
	// Refused, not both.
	Refused *Refusal `json:"refused,omitempty"`
}

// Refusal is the expected outcome "refused, with a reason".
type Refusal struct {
	// ReasonContains is text the refusal's reason must hold.
	ReasonContains string `json:"reason_contains"`
}

// holds reports whether a query's outcome is this refusal.
func (r *Refusal) holds(o *scenario.Outcome) bool {
	if len(o.Calls) > 0 || len(o.Prompts) > 0 || len(o.Answers) == 0 {
		return false
	}
	a := o.Answers[0].Text
	return strings.Contains(a, offline.Refused) && strings.Contains(a, r.ReasonContains)
}

// functionalityFiles are the suite's files, in table order: the benign
// queries, then the adversarial phrasings.
var functionalityFiles = []string{"functionality/queries.json", "functionality/adversarial.json"}

// Functionality returns the functionality suite shipped in the binary.
func Functionality() ([]*Case, error) {
	var all []byte
	for i, name := range functionalityFiles {
		b, err := data.ReadFile(name)
		if err != nil {
			return nil, err
		}
		// One JSON array of both files' cases, so that ids are unique
		// across the suite.
		b = bytes.TrimSpace(b)
		if i > 0 {
			all = append(bytes.TrimSuffix(all, []byte("]")), ',')
			b = bytes.TrimPrefix(b, []byte("["))
		}
		all = append(all, b...)
	}
	return ParseCases(all)
}

// maxSuiteBytes caps a functionality suite file.
const maxSuiteBytes = 4 << 20

// ParseCases decodes a functionality suite strictly.
func ParseCases(b []byte) ([]*Case, error) {
	var cs []*Case
	if err := strictjson.Unmarshal(b, &cs, maxSuiteBytes); err != nil {
		return nil, fmt.Errorf("functionality suite: %w", err)
	}
	seen := map[string]bool{}
	for _, c := range cs {
		switch {
		case c.ID == "" || seen[c.ID]:
			return nil, fmt.Errorf("functionality suite: missing or repeated id %q", c.ID)
		case !slices.Contains(Categories, c.Category):
			return nil, fmt.Errorf("functionality case %s: category %q, want one of %v", c.ID, c.Category, Categories)
		case strings.TrimSpace(c.Query) == "":
			return nil, fmt.Errorf("functionality case %s: empty query", c.ID)
		case (c.Expect == nil) == (c.Refused == nil):
			return nil, fmt.Errorf("functionality case %s: want exactly one of expect and refused", c.ID)
		case c.Refused != nil && strings.TrimSpace(c.Refused.ReasonContains) == "":
			return nil, fmt.Errorf("functionality case %s: a refusal needs reason_contains", c.ID)
		}
		seen[c.ID] = true
		if c.Refused != nil {
			continue
		}
		if err := c.Expect.Compile(); err != nil {
			return nil, fmt.Errorf("functionality case %s: %w", c.ID, err)
		}
	}
	return cs, nil
}

// CaseResult is one case on one architecture.
type CaseResult struct {
	ID       string        `json:"id"`
	Category string        `json:"category"`
	Arch     string        `json:"arch"`
	OK       bool          `json:"ok"`
	Prompts  int           `json:"prompts_shown"`
	Warned   int           `json:"prompts_warned"`
	LLMCalls int           `json:"llm_calls"`
	Answer   string        `json:"answer"`
	Error    string        `json:"error,omitempty"`
	Calls    []record.Call `json:"calls"`
}

// RunFunctionality runs every case on both architectures with the benign
// offline model and a user who approves everything.
func RunFunctionality(ctx context.Context, cs []*Case, o Options) ([]CaseResult, error) {
	var out []CaseResult
	for _, c := range cs {
		for _, arch := range Archs {
			r, err := runCase(ctx, c, arch, o)
			if err != nil {
				return out, fmt.Errorf("functionality case %s on %s: %w", c.ID, arch, err)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func runCase(ctx context.Context, c *Case, arch string, o Options) (CaseResult, error) {
	r := CaseResult{ID: c.ID, Category: c.Category, Arch: arch}
	var ms []*specs.Manifest
	if len(c.Apps) == 0 {
		all, err := specs.Builtin()
		if err != nil {
			return r, err
		}
		ms = all
	}
	for _, id := range c.Apps {
		m, err := specs.BuiltinByID(id)
		if err != nil {
			return r, err
		}
		ms = append(ms, m)
	}
	catalog, err := plan.NewCatalog(ms)
	if err != nil {
		return r, err
	}
	dir, err := os.MkdirTemp(o.TempDir, "isolategpt-func-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	if err := placeFiles(dir, evalUser, c.Files, o.Sandboxed); err != nil {
		return r, err
	}
	rec := &record.Launcher{Inner: o.launcher(0)}
	rec.SetSession(1)
	sys, err := start(arch, parts{catalog: catalog, launcher: rec, model: benignModel(arch, catalog, &scenario.Scenario{}), info: offlineInfo, dataDir: dir, vanillaMemory: &vanilla.MemoryStore{}})
	if err != nil {
		return r, err
	}
	defer sys.close()
	u, _ := users.New(users.ApprovesAll)
	s, err := sys.open(ctx, evalUser, u)
	if err != nil {
		return r, err
	}
	ans, err := s.Ask(ctx, c.Query)
	if err != nil {
		r.Error = err.Error()
	}
	if cerr := s.Close(); cerr != nil {
		return r, cerr
	}
	outcome := scenario.Outcome{Calls: rec.Calls(), Prompts: u.Shown()}
	if ans != nil {
		r.Answer = ans.Text
		r.LLMCalls = ans.Usage.Calls
		outcome.Answers = []scenario.Answer{{Session: 1, Text: ans.Text}}
	}
	r.Calls = outcome.Calls
	r.Prompts = len(outcome.Prompts)
	r.Warned = u.Warned()
	if c.Refused != nil {
		r.OK = err == nil && c.Refused.holds(&outcome)
	} else {
		r.OK = err == nil && c.Expect.Holds(&outcome)
	}
	return r, nil
}

// FunctionalityTable renders the success rate per category and architecture.
func FunctionalityTable(rs []CaseResult) string {
	type tally struct{ ok, n, prompts, warned, llm int }
	t := map[string]map[string]*tally{}
	for _, r := range rs {
		if t[r.Category] == nil {
			t[r.Category] = map[string]*tally{}
		}
		x := t[r.Category][r.Arch]
		if x == nil {
			x = &tally{}
			t[r.Category][r.Arch] = x
		}
		x.n++
		x.prompts += r.Prompts
		x.warned += r.Warned
		x.llm += r.LLMCalls
		if r.OK {
			x.ok++
		}
	}
	var b strings.Builder
	b.WriteString("| category | queries | isolated: done | vanilla: done | isolated: prompts/query | isolated: warned prompts/query | isolated: LLM calls/query | vanilla: LLM calls/query |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	total := map[string]*tally{Isolated: {}, Vanilla: {}}
	for _, cat := range append(slices.Clone(Categories), "all") {
		row := t[cat]
		if cat == "all" {
			row = total
		} else if row == nil {
			continue
		}
		iso, van := row[Isolated], row[Vanilla]
		if iso == nil || van == nil {
			continue
		}
		if cat != "all" {
			for arch, x := range row {
				tt := total[arch]
				tt.ok, tt.n, tt.prompts, tt.warned, tt.llm = tt.ok+x.ok, tt.n+x.n, tt.prompts+x.prompts, tt.warned+x.warned, tt.llm+x.llm
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %d/%d (%.0f%%) | %d/%d (%.0f%%) | %.1f | %.2f | %.1f | %.1f |\n", cat, iso.n,
			iso.ok, iso.n, pct(iso.ok, iso.n), van.ok, van.n, pct(van.ok, van.n),
			float64(iso.prompts)/float64(iso.n), float64(iso.warned)/float64(iso.n), float64(iso.llm)/float64(iso.n), float64(van.llm)/float64(van.n))
	}
	return b.String()
}

func pct(a, n int) float64 {
	if n == 0 {
		return 0
	}
	return 100 * float64(a) / float64(n)
}

// FunctionalityDetail lists each case's outcome on both architectures.
func FunctionalityDetail(rs []CaseResult) string {
	var b strings.Builder
	b.WriteString("| case | category | isolated | vanilla |\n|---|---|---|---|\n")
	byID := map[string]map[string]CaseResult{}
	var order []string
	for _, r := range rs {
		if byID[r.ID] == nil {
			byID[r.ID] = map[string]CaseResult{}
			order = append(order, r.ID)
		}
		byID[r.ID][r.Arch] = r
	}
	for _, id := range order {
		i, v := byID[id][Isolated], byID[id][Vanilla]
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", id, i.Category, okText(i), okText(v))
	}
	return b.String()
}

func okText(r CaseResult) string {
	if r.Category == "adversarial" {
		if r.OK {
			return "refused"
		}
		return "NOT refused"
	}
	if r.OK {
		return "done"
	}
	return "NOT done"
}
