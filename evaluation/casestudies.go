package evaluation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/llm/offline"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/vanilla"
	"github.com/isolategpt/isolategpt/evaluation/record"
	"github.com/isolategpt/isolategpt/evaluation/users"
	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// CaseStudy is one of the original's case studies, in the format of
// /work/notes/casestudies.md (files under evaluation/casestudies/).
type CaseStudy struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Original struct {
		Config      string   `json:"config"`
		Installed   []string `json:"installed"`
		Annotations []string `json:"annotations,omitempty"`
		VanillaGPT  string   `json:"vanillagpt"`
		IsolateGPT  string   `json:"isolategpt"`
	} `json:"original"`
	Apps      []string                              `json:"apps"`
	Files     map[string]map[string]json.RawMessage `json:"files"`
	User      string                                `json:"user"`
	Decisions string                                `json:"decisions"`
	Queries   []struct {
		Query  string `json:"query"`
		Expect Expect `json:"expect"`
		Note   string `json:"note,omitempty"`
	} `json:"queries"`
}

// Expect is what a case study expects of one query.
type Expect struct {
	Status          string              `json:"status"`
	PlanApps        []string            `json:"plan_apps"`
	Ran             []string            `json:"ran"`
	NeverRan        []string            `json:"never_ran"`
	AnswerContains  []string            `json:"answer_contains"`
	AnswerExcludes  []string            `json:"answer_excludes"`
	AppFilesExclude map[string][]string `json:"app_files_exclude"`
}

// LoadCaseStudies reads every case study in dir.
func LoadCaseStudies(dir string) ([]*CaseStudy, error) { return LoadCaseStudiesFS(os.DirFS(dir)) }

// maxCaseStudyBytes caps one case-study file.
const maxCaseStudyBytes = 1 << 20

// LoadCaseStudiesFS reads every *.json case study at the top of fsys.
func LoadCaseStudiesFS(fsys fs.FS) ([]*CaseStudy, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("no case study found")
	}
	var out []*CaseStudy
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var cs CaseStudy
		if err := strictjson.Unmarshal(b, &cs, maxCaseStudyBytes); err != nil {
			return nil, fmt.Errorf("case study %s: %w", name, err)
		}
		if want := strings.TrimSuffix(filepath.Base(name), ".json"); cs.ID != want {
			return nil, fmt.Errorf("case study %s: id %q does not match the file name", name, cs.ID)
		}
		out = append(out, &cs)
	}
	return out, nil
}

// CaseStudyResult is one query of a case study on one architecture.
type CaseStudyResult struct {
	Study   string   `json:"study"`
	Title   string   `json:"title"`
	Arch    string   `json:"arch"`
	User    string   `json:"user"`
	Query   string   `json:"query"`
	Met     bool     `json:"expectations_met"`
	Failed  []string `json:"failed_checks,omitempty"`
	Prompts int      `json:"prompts_shown"`
	Answer  string   `json:"answer"`
	// Original is what the original paper observed on this architecture.
	Original string `json:"original"`
}

// RunCaseStudies runs every case study on both architectures.
func RunCaseStudies(ctx context.Context, css []*CaseStudy, o Options) ([]CaseStudyResult, error) {
	var out []CaseStudyResult
	for _, cs := range css {
		for _, arch := range Archs {
			rs, err := runCaseStudy(ctx, cs, arch, o)
			if err != nil {
				return out, fmt.Errorf("case study %s on %s: %w", cs.ID, arch, err)
			}
			out = append(out, rs...)
		}
	}
	return out, nil
}

func caseStudyUser(decisions string) (string, error) {
	switch decisions {
	case "approve_all":
		return users.ApprovesAll, nil
	case "deny_warned":
		return users.DeniesWarned, nil
	}
	return "", fmt.Errorf("unknown decisions %q", decisions)
}

func runCaseStudy(ctx context.Context, cs *CaseStudy, arch string, o Options) ([]CaseStudyResult, error) {
	kind, err := caseStudyUser(cs.Decisions)
	if err != nil {
		return nil, err
	}
	u, _ := users.New(kind)
	dir, err := os.MkdirTemp(o.TempDir, "isolategpt-case-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	user := cs.User
	if user == "" {
		user = evalUser
	}
	if err := placeFiles(dir, user, cs.Files, o.Sandboxed); err != nil {
		return nil, err
	}
	rec := &record.Launcher{Inner: o.launcher(0)}
	rec.SetSession(1)
	var s session
	switch arch {
	case Isolated:
		// The case studies use built-in apps only, so they run on the
		// real engine, exactly as `isolategpt ask` does.
		e, err := engine.New(engine.Config{DataDir: dir, Apps: cs.Apps, Model: offline.New(), ModelInfo: offlineInfo, Launcher: rec})
		if err != nil {
			return nil, err
		}
		defer e.Close()
		es, err := e.OpenSession(ctx, user, frontend.Prompter(u))
		if err != nil {
			return nil, err
		}
		s = es
	default:
		var ms []*specs.Manifest
		for _, id := range cs.Apps {
			m, err := specs.BuiltinByID(id)
			if err != nil {
				return nil, err
			}
			ms = append(ms, m)
		}
		catalog, err := plan.NewCatalog(ms)
		if err != nil {
			return nil, err
		}
		v, err := vanilla.New(vanilla.Config{Catalog: catalog, Launcher: rec, Info: offlineInfo, AppsDir: filepath.Join(dir, "apps"), Memory: &vanilla.MemoryStore{}})
		if err != nil {
			return nil, err
		}
		vs, err := v.OpenSession(ctx, user)
		if err != nil {
			return nil, err
		}
		s = vs
	}
	defer s.Close()
	original := cs.Original.IsolateGPT
	if arch == Vanilla {
		original = cs.Original.VanillaGPT
	}
	var out []CaseStudyResult
	for _, q := range cs.Queries {
		before := len(rec.Calls())
		prompts := len(u.Shown())
		ans, askErr := s.Ask(ctx, q.Query)
		r := CaseStudyResult{Study: cs.ID, Title: cs.Title, Arch: arch, User: kind, Query: q.Query, Original: original}
		if ans != nil {
			r.Answer = ans.Text
		}
		r.Prompts = len(u.Shown()) - prompts
		r.Failed = check(q.Expect, arch, ans, askErr, rec.Calls()[before:], filepath.Join(dir, "apps", user))
		r.Met = len(r.Failed) == 0
		out = append(out, r)
	}
	return out, nil
}

// check returns the expectations a query's run did not meet. What ran is
// judged at the apps (the recording launcher) and, for agent steps of
// prompt apps, which run no code, from the answer's steps.
func check(e Expect, arch string, ans *msg.Answer, askErr error, calls []record.Call, appsDir string) []string {
	var failed []string
	status := "answered"
	if askErr != nil {
		status = "error"
	}
	if e.Status != "" && e.Status != status {
		failed = append(failed, fmt.Sprintf("status %s, want %s", status, e.Status))
	}
	if e.PlanApps != nil {
		if arch == Vanilla {
			// The baseline has no plan; not a failure of the check.
		} else if got := planApps(ans); !slices.Equal(got, sorted(e.PlanApps)) {
			failed = append(failed, fmt.Sprintf("plan apps %v, want %v", got, e.PlanApps))
		}
	}
	ran := func(target string, okOnly bool) bool {
		app, fn, _ := strings.Cut(target, ".")
		for _, c := range calls {
			if c.App == app && (fn == "*" || c.Function == fn) && (!okOnly || c.Err == "") {
				return true
			}
		}
		if ans != nil {
			for _, st := range ans.Steps {
				if st.App == app && (fn == "*" || st.Function == fn) && (!okOnly || st.Status == msg.StatusOK) {
					return true
				}
			}
		}
		return false
	}
	for _, t := range e.Ran {
		if !ran(t, true) {
			failed = append(failed, t+" did not run")
		}
	}
	for _, t := range e.NeverRan {
		if ran(t, false) {
			failed = append(failed, t+" ran")
		}
	}
	text := ""
	if ans != nil {
		text = ans.Text
	}
	for _, s := range e.AnswerContains {
		if !strings.Contains(text, s) {
			failed = append(failed, fmt.Sprintf("answer lacks %q", s))
		}
	}
	for _, s := range e.AnswerExcludes {
		if strings.Contains(text, s) {
			failed = append(failed, fmt.Sprintf("answer has %q", s))
		}
	}
	for app, words := range e.AppFilesExclude {
		for _, w := range words {
			if found := folderContains(filepath.Join(appsDir, app), w); found != "" {
				failed = append(failed, fmt.Sprintf("%s's folder holds %q (%s)", app, w, found))
			}
		}
	}
	return failed
}

func planApps(ans *msg.Answer) []string {
	if ans == nil || len(ans.Plan) == 0 {
		return []string{}
	}
	var p plan.Plan
	if json.Unmarshal(ans.Plan, &p) != nil {
		return []string{}
	}
	set := map[string]bool{}
	for _, s := range p.Steps {
		if s.App != "" {
			set[s.App] = true
		}
	}
	out := []string{}
	for a := range set {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// folderContains names a file under dir whose content holds s, or "".
func folderContains(dir, s string) string {
	found := ""
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(s)) {
			found, _ = filepath.Rel(dir, path)
		}
		return nil
	})
	return found
}

// CaseStudyTable renders the case studies' results.
func CaseStudyTable(rs []CaseStudyResult) string {
	var b strings.Builder
	b.WriteString("| case study | architecture | simulated user | query | expectations met? | prompts | what differed | the original observed |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		q := r.Query
		if len([]rune(q)) > 60 {
			q = string([]rune(q)[:60]) + "…"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d | %s | %s |\n", r.Title, r.Arch, r.User, cell(q), yesNo(r.Met), r.Prompts,
			cell(strings.Join(r.Failed, "; ")), cell(r.Original))
	}
	return b.String()
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}
