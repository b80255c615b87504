package evaluation

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/llm"
	"github.com/isolategpt/isolategpt/engine/llm/offline"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/untrusted"
	"github.com/isolategpt/isolategpt/engine/vanilla"
	"github.com/isolategpt/isolategpt/evaluation/adversary"
	"github.com/isolategpt/isolategpt/evaluation/attackapps"
	"github.com/isolategpt/isolategpt/evaluation/record"
	"github.com/isolategpt/isolategpt/evaluation/scenario"
	"github.com/isolategpt/isolategpt/evaluation/users"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/inproc"
	"github.com/isolategpt/isolategpt/sandbox/launch"
	"github.com/isolategpt/isolategpt/specs"
)

// Options choose how the suites run.
type Options struct {
	// Sandboxed runs every app in its confined worker process; otherwise
	// apps run in this process (faster, same app code, no isolation of the
	// app from the hub — the tables say which).
	Sandboxed bool
	// TempDir is where each run's data folder is made ("" = os.TempDir).
	TempDir string
	// leak, in tests, stands between the architecture and the adversary:
	// it lets a test break a defence on purpose and check the suite sees it.
	leak func(llms.Model) llms.Model
	// defences, in tests, switches named defences of the isolated
	// architecture off (the zero value has all on).
	defences defence.Set
}

func (o Options) launcher() sandbox.Launcher {
	if o.Sandboxed {
		return &launch.Launcher{}
	}
	return inproc.Launcher{}
}

// Mode names how apps ran, for the tables.
func (o Options) Mode() string {
	if o.Sandboxed {
		return "apps in sandboxed worker processes"
	}
	return "apps in-process (inproc launcher, same app code; run with --sandbox for workers)"
}

// offlineInfo is the offline model's identity.
var offlineInfo = llm.Info{Provider: llm.ProviderOffline, Model: llm.ProviderOffline, Offline: true}

// Result is one scenario run on one architecture with one simulated user.
type Result struct {
	Scenario string   `json:"scenario"`
	Title    string   `json:"title"`
	Attacks  []string `json:"attacks"`
	Defence  string   `json:"defence"`
	Arch     string   `json:"arch"`
	User     string   `json:"user"`
	// Pending says why the scenario did not run; the other fields are then empty.
	Pending         string `json:"pending,omitempty"`
	AttackSucceeded bool   `json:"attack_succeeded"`
	BenignDone      bool   `json:"benign_done"`
	Prompts         int    `json:"prompts_shown"`
	Warned          int    `json:"prompts_warned"`
	// AttackerCalls counts the LLM calls the attacker's script answered.
	AttackerCalls int           `json:"attacker_llm_calls"`
	Answers       []string      `json:"answers"`
	Calls         []record.Call `json:"calls"`
	Errors        []string      `json:"errors,omitempty"`
}

// RunAttacks runs every scenario on every architecture with every user.
func RunAttacks(ctx context.Context, scs []*scenario.Scenario, o Options) ([]Result, error) {
	var out []Result
	for _, sc := range scs {
		for _, arch := range Archs {
			for _, u := range users.All {
				r, err := RunScenario(ctx, sc, arch, u, o)
				if err != nil {
					return out, fmt.Errorf("scenario %s on %s (%s): %w", sc.ID, arch, u, err)
				}
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// pendingReason is why a scenario cannot run here, or "".
func pendingReason(sc *scenario.Scenario) string {
	if sc.Pending != "" {
		return sc.Pending
	}
	for _, id := range sc.Apps {
		if _, err := specs.BuiltinByID(id); err != nil {
			return fmt.Sprintf("built-in app %s is not in this binary", id)
		}
	}
	return ""
}

// RunScenario runs one scenario from a fresh data folder.
func RunScenario(ctx context.Context, sc *scenario.Scenario, arch, user string, o Options) (Result, error) {
	r := Result{Scenario: sc.ID, Title: sc.Title, Attacks: sc.Attacks, Defence: sc.Defence, Arch: arch, User: user}
	if r.Pending = pendingReason(sc); r.Pending != "" {
		return r, nil
	}
	dir, err := os.MkdirTemp(o.TempDir, "isolategpt-eval-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	if err := placeFiles(dir, evalUser, sc.Files, o.Sandboxed); err != nil {
		return r, err
	}
	apps := &attackapps.Launcher{Inner: o.launcher(), Sandboxed: o.Sandboxed}
	rec := &record.Launcher{Inner: apps}
	u, err := users.New(user)
	if err != nil {
		return r, err
	}
	var mem vanilla.Memory = &vanilla.MemoryStore{}
	var sys system
	var adv *adversary.Model
	var outcome scenario.Outcome
	defer func() {
		if sys != nil {
			_ = sys.close()
		}
	}()
	for i, queries := range sc.Sessions {
		n := i + 1
		catalog, changed, err := scenarioCatalog(sc, n, apps, arch)
		if err != nil {
			return r, err
		}
		if sys == nil || changed {
			// A rug pull: the app's manifest changed between sessions, as
			// if the app updated itself; the system starts again over the
			// same data folder.
			if sys != nil {
				if err := sys.close(); err != nil {
					return r, err
				}
			}
			adv = &adversary.Model{Benign: benignModel(arch, catalog, sc), Canaries: sc.Canaries, Attacker: sc.Attacker}
			var model llms.Model = adv
			if o.leak != nil {
				model = o.leak(adv)
			}
			if sys, err = start(arch, parts{catalog: catalog, launcher: rec, model: model, info: offlineInfo, dataDir: dir, vanillaMemory: mem, install: mcpApps(sc), defences: o.defences}); err != nil {
				sys = nil
				return r, err
			}
		}
		rec.SetSession(n)
		s, err := sys.open(ctx, evalUser, u)
		if err != nil {
			return r, err
		}
		for _, q := range queries {
			ans, err := s.Ask(ctx, q)
			if err != nil {
				r.Errors = append(r.Errors, err.Error())
			}
			if ans != nil {
				outcome.Answers = append(outcome.Answers, scenario.Answer{Session: n, Text: ans.Text})
				r.Answers = append(r.Answers, ans.Text)
			}
		}
		if err := s.Close(); err != nil {
			return r, err
		}
		hits, _ := adv.Stats()
		r.AttackerCalls += hits
	}
	outcome.Calls = rec.Calls()
	r.Calls = outcome.Calls
	outcome.Prompts = u.Shown()
	r.AttackSucceeded = sc.Goal.Holds(&outcome)
	r.BenignDone = sc.Benign.Holds(&outcome)
	r.Prompts = len(outcome.Prompts)
	r.Warned = u.Warned()
	return r, nil
}

// scenarioCatalog is the catalog of session n: the built-in apps and the
// scenario apps' manifests, and it hands the launcher what each scenario
// app's server answers with in that session. changed is true when a server
// changed since session n-1 (a rug pull). The isolated catalog keeps the
// pinned manifest, and its hub checks the server against the pin; the
// baseline builds its tools from whatever the server reports.
func scenarioCatalog(sc *scenario.Scenario, n int, apps *attackapps.Launcher, arch string) (*plan.Catalog, bool, error) {
	var ms []*specs.Manifest
	for _, id := range sc.Apps {
		m, err := specs.BuiltinByID(id)
		if err != nil {
			return nil, false, err
		}
		ms = append(ms, m)
	}
	changed := false
	for i := range sc.ScenarioApps {
		a := &sc.ScenarioApps[i]
		m := a.ManifestFor(n)
		if n > 1 && m != a.ManifestFor(n-1) {
			changed = true
		}
		raw := a.Manifest
		if m != a.Pinned() {
			raw = a.Manifest2
		}
		if apps != nil {
			apps.Set(a.ID(), attackapps.Spec{Manifest: raw, Functions: a.Functions})
		}
		if arch == Isolated {
			m = a.Pinned()
		}
		ms = append(ms, m)
	}
	c, err := plan.NewCatalog(ms)
	return c, changed, err
}

// benignModel is what answers LLM calls without a canary: the offline
// model (for the baseline, its driver of the one context), or the
// scenario's own script.
func benignModel(arch string, c *plan.Catalog, sc *scenario.Scenario) llms.Model {
	var inner llms.Model = offline.New()
	if arch == Vanilla {
		inner = vanilla.NewOffline(c)
		if len(sc.BenignVanilla) > 0 {
			return &adversary.Script{Inner: inner, Replies: sc.BenignVanilla}
		}
		return inner
	}
	if len(sc.BenignPlan) > 0 || len(sc.BenignAgent) > 0 {
		return &adversary.Script{Inner: inner, Plan: string(sc.BenignPlan), Replies: sc.BenignAgent}
	}
	return inner
}

// mcpApps are the scenario apps of kind mcp, installed (and pinned) as a
// user would install them.
func mcpApps(sc *scenario.Scenario) []json.RawMessage {
	var out []json.RawMessage
	for i := range sc.ScenarioApps {
		if a := &sc.ScenarioApps[i]; a.Pinned().Kind == specs.KindMCP {
			out = append(out, a.Manifest)
		}
	}
	return out
}

// evalUser is the user every evaluation run is for.
const evalUser = "eval"

// placeFiles writes fixture files into apps' folders (dir/apps/<user>/<app>).
// For sandboxed apps run by root they are given to the sandbox's user, as
// the launcher gives it the folder itself.
func placeFiles(dir, user string, files map[string]map[string]json.RawMessage, sandboxed bool) error {
	uid, gid := launch.SandboxIDs()
	give := func(path string) error {
		if !sandboxed {
			return nil
		}
		return os.Lchown(path, uid, gid)
	}
	for app, fs := range files {
		appDir := filepath.Join(dir, "apps", user, app)
		for name, content := range fs {
			path := filepath.Join(appDir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return fmt.Errorf("fixture %s/%s: %w", app, name, err)
			}
			for d := filepath.Dir(path); d != appDir && len(d) > len(appDir); d = filepath.Dir(d) {
				if err := give(d); err != nil {
					return fmt.Errorf("fixture %s/%s: %w", app, name, err)
				}
			}
			data := []byte(content)
			var str string
			if json.Unmarshal(content, &str) == nil {
				data = []byte(str)
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				return fmt.Errorf("fixture %s/%s: %w", app, name, err)
			}
			if err := give(path); err != nil {
				return fmt.Errorf("fixture %s/%s: %w", app, name, err)
			}
		}
	}
	return nil
}

// MarshalResults encodes results as indented JSON, with every character
// an app could hide in a string written as an escape (engine/untrusted).
func MarshalResults(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(untrusted.JSON(b), '\n'), nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// AttackTable renders results as a Markdown table.
func AttackTable(rs []Result) string {
	var b strings.Builder
	b.WriteString("| scenario | attacks | defence claimed | architecture | simulated user | attack succeeded? | benign task done? | prompts shown (warned) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		if r.Pending != "" {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | PENDING: %s | – | – |\n", r.Scenario, strings.Join(r.Attacks, ", "), r.Defence, r.Arch, r.User, r.Pending)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %d (%d) |\n", r.Scenario, strings.Join(r.Attacks, ", "), r.Defence, r.Arch, r.User,
			yesNo(r.AttackSucceeded), yesNo(r.BenignDone), r.Prompts, r.Warned)
	}
	return b.String()
}

// AttackSummary counts the results per architecture and simulated user and
// lists, honestly, the scenarios whose defence rests on the user and those
// the design does not claim to stop.
func AttackSummary(rs []Result) string {
	type tally struct{ ran, attacked, adaptive, adaptiveHit, benign, prompts int }
	t := map[string]*tally{}
	var order []string
	warned, none, pending := map[string]string{}, map[string]string{}, map[string]string{}
	for _, r := range rs {
		if r.Pending != "" {
			pending[r.Scenario] = r.Pending
			continue
		}
		k := r.Arch + " / " + r.User
		if t[k] == nil {
			t[k] = &tally{}
			order = append(order, k)
		}
		x := t[k]
		x.ran++
		x.prompts += r.Prompts
		// Adaptive (defence-aware) attacks are counted apart from the
		// static ones, as attacks.md item 27 asks.
		if slices.Contains(r.Attacks, "E27") {
			x.adaptive++
			if r.AttackSucceeded {
				x.adaptiveHit++
			}
		} else if r.AttackSucceeded {
			x.attacked++
		}
		if r.BenignDone {
			x.benign++
		}
		switch r.Defence {
		case scenario.DefenceWarned:
			warned[r.Scenario] = r.Title
		case scenario.DefenceNone:
			none[r.Scenario] = r.Title
		}
	}
	var b strings.Builder
	b.WriteString("| architecture / simulated user | scenarios run | static attacks succeeded | adaptive attacks succeeded | benign tasks done | prompts shown |\n|---|---|---|---|---|---|\n")
	for _, k := range order {
		x := t[k]
		fmt.Fprintf(&b, "| %s | %d | %d of %d | %d of %d | %d | %d |\n", k, x.ran, x.attacked, x.ran-x.adaptive, x.adaptiveHit, x.adaptive, x.benign, x.prompts)
	}
	list := func(title string, m map[string]string) {
		if len(m) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s\n", title)
		ids := make([]string, 0, len(m))
		for id := range m {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			fmt.Fprintf(&b, "- %s: %s\n", id, m[id])
		}
	}
	list("Scenarios whose defence relies on the user denying a request the hub marks as warned (they succeed against a user who approves everything):", warned)
	list("Scenarios the design does not claim to stop (reported as they come out):", none)
	list("Pending scenarios (not run, never counted as passed):", pending)
	return b.String()
}
