package evaluation

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/engine"
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
	// AllowWeakerSandbox starts workers where the host cannot give every
	// layer of the sandbox.
	AllowWeakerSandbox bool
	// TempDir is where each run's data folder is made ("" = os.TempDir).
	TempDir string
	// Defences is which of the isolated architecture's defences are on;
	// the zero value has every one on. Only the ablation switches any off.
	Defences defence.Set
	// Users are the simulated users the suite runs the isolated
	// architecture with; nil means every one (users.All).
	Users []string
	// Parallel is how many runs go at once (each from its own data
	// folder); 0 or 1 runs one at a time. Results come in the same order.
	// Sandboxed runs go one at a time whatever it says: a worker forked
	// for one run holds copies of the process's descriptors until it
	// execs, the lock of another run's store among them, and that run's
	// restart (a rug pull) would find its own store locked.
	Parallel int
}

// Workers is how many runs may go at once.
func (o Options) Workers() int {
	if o.Sandboxed {
		return 1
	}
	return o.Parallel
}

// Each runs f(0) … f(n-1), up to par at a time, and returns the first
// error (the runs already started finish; no new one starts).
func Each(n, par int, f func(i int) error) error {
	if par < 1 {
		par = 1
	}
	var (
		mu    sync.Mutex
		first error
		next  int
		wg    sync.WaitGroup
	)
	for range min(par, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if first != nil || next >= n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// launcher starts the apps: in-process, or sandboxed workers whose output
// cap follows defence.OutputCap and whose wall-clock limit is the
// scenario's (0: the launcher's default).
func (o Options) launcher(callTimeout time.Duration) sandbox.Launcher {
	if !o.Sandboxed {
		return inproc.Launcher{}
	}
	l := &launch.Launcher{CallTimeout: callTimeout, AllowWeaker: o.AllowWeakerSandbox}
	if !o.Defences.On(defence.OutputCap) {
		l.MaxMessageBytes = engine.UncappedOutputBytes
	}
	return l
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

// defaultCallTimeout bounds one app call unless the scenario says;
// noCallLimit stands for no limit (defence.CallLimit switched off): the
// engine's query timeout bounds the call.
const (
	defaultCallTimeout = 2 * time.Minute
	noCallLimit        = 10 * time.Minute
)

// Result is one scenario run on one architecture with one simulated user.
type Result struct {
	Scenario string   `json:"scenario"`
	Title    string   `json:"title"`
	Attacks  []string `json:"attacks"`
	Defence  string   `json:"defence"`
	Arch     string   `json:"arch"`
	User     string   `json:"user"`
	// Claimed is true when the design claims to stop the attack against
	// this user on this architecture (the isolated one).
	Claimed bool `json:"claimed"`
	// DefencesOff are the defences switched off for this run (ablation).
	DefencesOff []defence.Name `json:"defences_off,omitempty"`
	// Pending says why the scenario did not run; the other fields are then empty.
	Pending         string `json:"pending,omitempty"`
	AttackSucceeded bool   `json:"attack_succeeded"`
	BenignDone      bool   `json:"benign_done"`
	Prompts         int    `json:"prompts_shown"`
	Warned          int    `json:"prompts_warned"`
	// AttackerCalls counts the LLM calls the attacker's script answered.
	AttackerCalls int             `json:"attacker_llm_calls"`
	Answers       []string        `json:"answers"`
	Calls         []record.Call   `json:"calls"`
	Shown         []users.Shown   `json:"prompts"`
	Errors        []string        `json:"errors,omitempty"`
	Sessions      []SessionReport `json:"sessions,omitempty"`
}

// SessionReport says whose a session was.
type SessionReport struct {
	Session int    `json:"session"`
	User    string `json:"user"`
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
	r := Result{Scenario: sc.ID, Title: sc.Title, Attacks: sc.Attacks, Defence: sc.Defence, Arch: arch, User: user,
		Claimed: arch == Isolated && sc.Claimed(user), DefencesOff: o.Defences.Disabled()}
	if r.Pending = pendingReason(sc); r.Pending != "" {
		return r, nil
	}
	dir, err := os.MkdirTemp(o.TempDir, "isolategpt-eval-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	if err := placeFiles(dir, sc.UserOf(1), sc.Files, o.Sandboxed); err != nil {
		return r, err
	}
	callTimeout := defaultCallTimeout
	if sc.CallTimeoutMs > 0 {
		callTimeout = time.Duration(sc.CallTimeoutMs) * time.Millisecond
	}
	appLimit := callTimeout
	if !o.Defences.On(defence.CallLimit) {
		// The launcher waits as long as the hub does.
		appLimit = noCallLimit
	}
	hubLimit := callTimeout
	if o.Sandboxed && o.Defences.On(defence.CallLimit) {
		// The hub's limit runs from the step's start, and a worker starts
		// at its first call: a cold sandboxed start on a loaded machine
		// can take longer than a scenario's one-second limit and fail a
		// healthy app. The launcher's limit runs from the call alone; it
		// holds the scenario's, and the hub's adds the start's bound.
		hubLimit += launch.DefaultStartTimeout
	}
	apps := &attackapps.Launcher{Inner: o.launcher(appLimit), Sandboxed: o.Sandboxed, CallTimeout: appLimit}
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
			p := parts{catalog: catalog, launcher: rec, model: adv, info: offlineInfo, dataDir: dir, vanillaMemory: mem,
				install: mcpApps(sc), defences: o.Defences, callTimeout: hubLimit}
			if sys, err = start(arch, p); err != nil {
				sys = nil
				return r, err
			}
		}
		rec.SetSession(n)
		u.SetSession(n)
		who := sc.UserOf(n)
		r.Sessions = append(r.Sessions, SessionReport{Session: n, User: who})
		s, err := sys.open(ctx, who, u)
		if err != nil {
			return r, err
		}
		for _, q := range queries {
			ans, err := s.Ask(ctx, q)
			if err != nil {
				r.Errors = append(r.Errors, err.Error())
			}
			if ans != nil {
				outcome.Answers = append(outcome.Answers, scenario.Answer{Session: n, Text: ans.Text, Ms: ans.Duration.Milliseconds()})
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
	outcome.Prompts = u.Shown()
	r.Calls, r.Shown = outcome.Calls, outcome.Prompts
	r.AttackSucceeded = sc.Goal.Holds(&outcome)
	r.BenignDone = sc.Benign.Holds(&outcome)
	r.Prompts = len(outcome.Prompts)
	r.Warned = u.Warned()
	if len(sc.SessionUsers) == 0 {
		r.Sessions = nil
	}
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
			apps.Set(a.ID(), attackapps.Spec{Manifest: raw, Functions: a.BehaviourFor(n), MCPTools: a.MCPTools})
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
// scenario's own script; and, for an architecture with a defence switched
// off, the honest stand-in for what the defence replaced.
func benignModel(arch string, c *plan.Catalog, sc *scenario.Scenario) llms.Model {
	var inner llms.Model = offline.New()
	if arch == Vanilla {
		inner = vanilla.NewOffline(c)
		if len(sc.BenignVanilla) > 0 {
			return &adversary.Script{Inner: inner, Replies: sc.BenignVanilla}
		}
		return inner
	}
	if len(sc.BenignPlan) > 0 || len(sc.BenignPlans) > 0 || len(sc.BenignAgent) > 0 {
		inner = &adversary.Script{Inner: inner, Plan: string(sc.BenignPlan), Plans: sc.BenignPlans, Replies: sc.BenignAgent}
	}
	return &adversary.Ablated{Inner: inner}
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

// evalUser is the user of the functionality suite and the case studies.
const evalUser = scenario.DefaultUser

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
