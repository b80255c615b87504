package engine

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/inproc"
	"github.com/isolategpt/isolategpt/sandbox/launch"
)

// caseStudy is one file of evaluation/casestudies (format:
// /work/notes/casestudies.md): the original's configuration as installed
// apps, the queries, and what must hold after each.
type caseStudy struct {
	ID       string          `json:"id"`
	Title    string          `json:"title"`
	Original json.RawMessage `json:"original"`
	Apps     []string        `json:"apps"`
	// Files are put in an app's own folder before it first starts.
	Files     map[string]map[string]json.RawMessage `json:"files"`
	User      string                                `json:"user"`
	Decisions string                                `json:"decisions"`
	Queries   []caseQuery                           `json:"queries"`
}

type caseQuery struct {
	Query  string     `json:"query"`
	Expect caseExpect `json:"expect"`
	Note   string     `json:"note"`
}

type caseExpect struct {
	Status          string              `json:"status"`
	PlanApps        []string            `json:"plan_apps"`
	Ran             []string            `json:"ran"`
	NeverRan        []string            `json:"never_ran"`
	AnswerContains  []string            `json:"answer_contains"`
	AnswerExcludes  []string            `json:"answer_excludes"`
	AppFilesExclude map[string][]string `json:"app_files_exclude"`
}

const caseStudyDir = "../evaluation/casestudies"

func loadCaseStudies(t *testing.T) []caseStudy {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(caseStudyDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []caseStudy
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var cs caseStudy
		if err := dec.Decode(&cs); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if want := strings.TrimSuffix(filepath.Base(p), ".json"); cs.ID != want {
			t.Fatalf("%s: id %q does not match the file name", p, cs.ID)
		}
		if cs.Decisions != "approve_all" && cs.Decisions != "deny_warned" {
			t.Fatalf("%s: decisions %q", p, cs.Decisions)
		}
		if len(cs.Apps) == 0 || len(cs.Queries) == 0 || cs.User == "" {
			t.Fatalf("%s: no apps, queries or user", p)
		}
		out = append(out, cs)
	}
	// The original has four case studies; each must be here.
	var ids []string
	for _, cs := range out {
		ids = append(ids, cs.ID)
	}
	if want := []string{"app_compromise", "data_stealing", "inadvertent_data_exposure", "uncontrolled_system_alteration"}; !slices.Equal(ids, want) {
		t.Fatalf("case studies %v, want %v", ids, want)
	}
	return out
}

// placeFiles writes a case study's files into its apps' own folders.
func placeFiles(t *testing.T, dataDir string, cs caseStudy) {
	t.Helper()
	for app, files := range cs.Files {
		if !slices.Contains(cs.Apps, app) {
			t.Fatalf("files for %s, which is not installed", app)
		}
		for rel, raw := range files {
			if !filepath.IsLocal(rel) {
				t.Fatalf("file %q leaves %s's folder", rel, app)
			}
			content := []byte(raw)
			var s string
			if json.Unmarshal(raw, &s) == nil {
				content = []byte(s)
			}
			path := filepath.Join(dataDir, "apps", cs.User, app, rel)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			giveToSandbox(t, filepath.Join(dataDir, "apps", cs.User, app), rel)
		}
	}
}

func giveToSandbox(t *testing.T, appDir, rel string) {
	t.Helper()
	uid, gid := launch.SandboxIDs()
	p := appDir
	for _, part := range append([]string{""}, strings.Split(filepath.ToSlash(rel), "/")...) {
		p = filepath.Join(p, part)
		if err := os.Lchown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
}

// ranOK reports whether app.fn ("app.*": any function or the agent) ran to
// completion in a step of the answer or through ISC.
func ranOK(want string, a *msg.Answer, isc []string) bool {
	app, fn, _ := strings.Cut(want, ".")
	for _, s := range a.Steps {
		if s.Kind == "op" || s.App != app || s.Status != msg.StatusOK {
			continue
		}
		if fn == "*" || s.Function == fn {
			return true
		}
	}
	for _, f := range isc {
		if f == want || fn == "*" && strings.HasPrefix(f, app+".") {
			return true
		}
	}
	return false
}

func runCaseStudy(t *testing.T, cs caseStudy, launcher sandbox.Launcher) {
	dir := t.TempDir()
	placeFiles(t, dir, cs)
	e := newEngine(t, Config{DataDir: dir, Apps: cs.Apps, Launcher: launcher})
	if got := e.Catalog().IDs(); !slices.Equal(got, slices.Sorted(slices.Values(cs.Apps))) {
		t.Fatalf("installed %v, want exactly %v", got, cs.Apps)
	}
	rec := &recorder{decide: func(p msg.Prompt) msg.Decision {
		if cs.Decisions == "deny_warned" && p.Warning != "" {
			return msg.Deny
		}
		return msg.AllowOnce
	}}
	s := session(t, e, cs.User, rec)
	seenISC := 0
	for i, q := range cs.Queries {
		a, err := s.Ask(t.Context(), q.Query)
		switch {
		case q.Expect.Status == "answered" && err != nil:
			t.Fatalf("query %d: %v", i+1, err)
		case q.Expect.Status == "error" && err == nil:
			t.Fatalf("query %d answered, want an error", i+1)
		case a == nil:
			t.Fatalf("query %d: no answer", i+1)
		}
		t.Logf("query %d: %s\n%s", i+1, q.Query, a.Text)
		var isc []string
		recs := audit(t, e, cs.User)
		for _, r := range recs[seenISC:] {
			if r.Kind == "isc" && r.Outcome == msg.StatusOK {
				isc = append(isc, r.Function)
			}
		}
		seenISC = len(recs)
		var planned []string
		for _, st := range a.Steps {
			if st.Kind != "op" && st.App != "" && !slices.Contains(planned, st.App) {
				planned = append(planned, st.App)
			}
		}
		slices.Sort(planned)
		if !slices.Equal(planned, q.Expect.PlanApps) && !(len(planned) == 0 && len(q.Expect.PlanApps) == 0) {
			t.Errorf("query %d: plan uses %v, want %v\n%s", i+1, planned, q.Expect.PlanApps, a.Text)
		}
		for _, f := range q.Expect.Ran {
			if !ranOK(f, a, isc) {
				t.Errorf("query %d: %s did not run\n%s", i+1, f, a.Text)
			}
		}
		for _, f := range q.Expect.NeverRan {
			if ranOK(f, a, isc) {
				t.Errorf("query %d: %s ran\n%s", i+1, f, a.Text)
			}
		}
		for _, w := range q.Expect.AnswerContains {
			if !strings.Contains(a.Text, w) {
				t.Errorf("query %d: answer lacks %q:\n%s", i+1, w, a.Text)
			}
		}
		for _, w := range q.Expect.AnswerExcludes {
			if strings.Contains(a.Text, w) {
				t.Errorf("query %d: answer holds %q:\n%s", i+1, w, a.Text)
			}
		}
		for app, words := range q.Expect.AppFilesExclude {
			checkAppFiles(t, filepath.Join(dir, "apps", cs.User, app), words)
		}
	}
}

// checkAppFiles fails when any file in an app's folder holds one of words.
func checkAppFiles(t *testing.T, dir string, words []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == dir {
				return nil // the app never started: it holds nothing
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, w := range words {
			if bytes.Contains(data, []byte(w)) {
				t.Errorf("%s holds %q", path, w)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCaseStudies runs each of the original's four case studies as a set of
// installed apps on the offline model.
func TestCaseStudies(t *testing.T) {
	for _, cs := range loadCaseStudies(t) {
		t.Run(cs.ID, func(t *testing.T) { runCaseStudy(t, cs, inproc.Launcher{}) })
	}
}

// TestCaseStudiesInTheSandbox runs the same through confined workers.
func TestCaseStudiesInTheSandbox(t *testing.T) {
	for _, cs := range loadCaseStudies(t) {
		t.Run(cs.ID, func(t *testing.T) { runCaseStudy(t, cs, nil) })
	}
}
