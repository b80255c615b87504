package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/batch"
	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/llm"
	"github.com/isolategpt/isolategpt/engine/vanilla"
	"github.com/isolategpt/isolategpt/evaluation"
	"github.com/isolategpt/isolategpt/evaluation/scenario"
	"github.com/isolategpt/isolategpt/evaluation/search"
	"github.com/isolategpt/isolategpt/sandbox/launch"
	"github.com/isolategpt/isolategpt/specs/atomicfile"
)

var evalCmd = &cmdSpec{
	name:    "eval",
	summary: "the evaluation suites on isolategpt and the non-isolated baseline",
	help: `Each suite prints Markdown tables (the same on every run) on stdout and a
line per scenario or case on stderr as it goes.`,
	subs: []*cmdSpec{
		{name: "attacks", summary: "the attack scenarios under the compromised-LLM adversary",
			new: func() options { return &evalOpts{suite: "attacks"} }},
		{name: "search", summary: "the adaptive search: generated attacks over each scenario's catalog, counted apart",
			new: func() options { return &evalOpts{suite: "search"} }},
		{name: "functionality", summary: "benign and adversarial queries on the offline model",
			new: func() options { return &evalOpts{suite: "functionality"} }},
		{name: "case-studies", summary: "the original's four case studies",
			new: func() options { return &evalOpts{suite: "case-studies"} }},
		evalScaleCmd,
	},
}

type evalOpts struct {
	suite     string
	sandboxed bool
	weaker    bool
	jsonPath  string
	only      string
	dir       string
	full      bool
	outDir    string
	parallel  int
	off       string
	ablate    bool
	timeout   time.Duration
}

func (o *evalOpts) flags(fs *flag.FlagSet, stdio IO) {
	fs.BoolVar(&o.sandboxed, "sandbox", false, "run every app in its sandboxed worker process (default: in-process, same app code)")
	registerWeaker(fs, &o.weaker, stdio.Getenv)
	fs.StringVar(&o.jsonPath, "json", "", "also write the full results as JSON to this `FILE`")
	fs.IntVar(&o.parallel, "parallel", 1, "run this many scenarios or cases at once (the tables are the same)")
	switch o.suite {
	case "attacks":
		fs.StringVar(&o.only, "scenario", "", "run only the scenario with this `ID`")
		fs.StringVar(&o.dir, "dir", "", "run the scenario files (*.json) in this `FOLDER` instead of the shipped ones")
		fs.StringVar(&o.off, "off", "", "switch these defences off for the whole run (comma-separated `NAMES`; see --ablate's table)")
		fs.BoolVar(&o.ablate, "ablate", false, "run each claimed scenario with the defences it relies on switched off; fails unless every attack then succeeds")
	case "search":
		fs.BoolVar(&o.full, "full", false, "every attempt of every class against every simulated user (default: the bounded set CI runs)")
		fs.StringVar(&o.outDir, "out", "", "write the scenario file of every successful attempt into this `FOLDER`")
	}
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long; 0 means no limit")
}

// Eval runs `isolategpt eval attacks|functionality|case-studies [flags]`:
// the evaluation suites on the isolated architecture and the baseline,
// printed as Markdown tables (the same on every run), with --json for the
// full results.
func Eval(args []string, stdio IO) int { return runCommand(stdio, "eval", args...) }

func (o *evalOpts) run(_ []string, stdio IO) int {
	name := "isolategpt eval " + o.suite
	if !checkTimeout(o.timeout, stdio, "eval "+o.suite) {
		return ExitUsage
	}
	jsonPath := stdio.path(o.jsonPath)
	if jsonPath != "" {
		// Found out now, not after a long run.
		if err := checkWritable(jsonPath); err != nil {
			fmt.Fprintf(stdio.Err, "%s: --json: %v\n", name, err)
			return ExitUsage
		}
	}
	ctx, cancel := withTimeout(stdio.ctx(), o.timeout)
	defer cancel()
	if o.parallel < 1 {
		fmt.Fprintf(stdio.Err, "%s: --parallel %d: want 1 or more\n", name, o.parallel)
		return ExitUsage
	}
	eo := evaluation.Options{Sandboxed: o.sandboxed, AllowWeakerSandbox: o.weaker, Parallel: o.parallel}
	if o.off != "" {
		var off []defence.Name
		for _, n := range strings.Split(o.off, ",") {
			off = append(off, defence.Name(strings.TrimSpace(n)))
		}
		d, err := defence.Off(off...)
		if err != nil {
			fmt.Fprintf(stdio.Err, "%s: --off: %v\n", name, err)
			return ExitUsage
		}
		eo.Defences = d
	}
	var (
		results any
		table   string
		err     error
		// failed is a finding that makes the run's exit status say so:
		// a claimed defence lost, or a claim that cannot fail.
		failed error
	)
	switch o.suite {
	case "attacks":
		var scs []*scenario.Scenario
		if o.dir != "" {
			scs, err = evaluation.LoadScenarios(stdio.path(o.dir))
		} else {
			scs, err = evaluation.Scenarios()
		}
		if err != nil {
			break
		}
		if o.only != "" {
			var ids []string
			for _, s := range scs {
				ids = append(ids, s.ID)
			}
			scs = slices.DeleteFunc(scs, func(s *scenario.Scenario) bool { return s.ID != o.only })
			if len(scs) == 0 {
				fmt.Fprintf(stdio.Err, "%s: --scenario %q: no such scenario (scenarios: %s)\n", name, o.only, strings.Join(ids, ", "))
				return ExitUsage
			}
		}
		if o.ablate {
			var as []evaluation.Ablation
			as, err = batches(ctx, stdio, o, scs, func(s *scenario.Scenario) string { return s.ID },
				func(ctx context.Context, scs []*scenario.Scenario) ([]evaluation.Ablation, error) {
					return evaluation.RunAblation(ctx, scs, eo)
				})
			results, table = as, evaluation.AblationTable(as)
			for _, a := range as {
				if !a.CanFail() && err == nil {
					failed = fmt.Errorf("scenario %s cannot fail: %s", a.Scenario, a.Problem)
				}
			}
			break
		}
		var rs []evaluation.Result
		rs, err = batches(ctx, stdio, o, scs, func(s *scenario.Scenario) string { return s.ID },
			func(ctx context.Context, scs []*scenario.Scenario) ([]evaluation.Result, error) {
				return evaluation.RunAttacks(ctx, scs, eo)
			})
		results, table = rs, evaluation.AttackTable(scs, rs)+"\n"+evaluation.AttackSummary(scs, rs)+"\n"+evaluation.ClassTable(rs)
		if lost := evaluation.ClaimedLosses(rs); len(lost) > 0 && err == nil {
			failed = fmt.Errorf("%d attack(s) the design claims to stop succeeded (first: %s against %s)", len(lost), lost[0].Scenario, lost[0].User)
		}
	case "search":
		var as []search.Attempt
		if as, err = search.Generate(o.full); err != nil {
			break
		}
		us := search.Users(o.full)
		var outs []search.Outcome
		if outs, err = search.Run(ctx, as, us, eo); err != nil {
			break
		}
		if o.outDir != "" {
			if err = search.WriteReproducers(stdio.path(o.outDir), as, outs); err != nil {
				break
			}
		}
		results, table = outs, search.Table(outs, us)
		if lost := search.ClaimedLosses(outs); len(lost) > 0 {
			failed = fmt.Errorf("%d attempt(s) succeeded against a claimed defence (first: %s against %v)", len(lost), lost[0].ID, lost[0].ClaimedLost)
		}
	case "functionality":
		var cs []*evaluation.Case
		if cs, err = evaluation.Functionality(); err != nil {
			break
		}
		var rs []evaluation.CaseResult
		rs, err = batches(ctx, stdio, o, cs, func(c *evaluation.Case) string { return c.ID },
			func(ctx context.Context, cs []*evaluation.Case) ([]evaluation.CaseResult, error) {
				return evaluation.RunFunctionality(ctx, cs, eo)
			})
		results, table = rs, evaluation.FunctionalityTable(rs)+"\n"+evaluation.FunctionalityDetail(rs)
	case "case-studies":
		var css []*evaluation.CaseStudy
		if css, err = evaluation.CaseStudies(); err != nil {
			break
		}
		var rs []evaluation.CaseStudyResult
		rs, err = batches(ctx, stdio, o, css, func(c *evaluation.CaseStudy) string { return c.ID },
			func(ctx context.Context, css []*evaluation.CaseStudy) ([]evaluation.CaseStudyResult, error) {
				return evaluation.RunCaseStudies(ctx, css, eo)
			})
		results, table = rs, evaluation.CaseStudyTable(rs)
	}
	if err != nil {
		fmt.Fprintf(stdio.Err, "%s: %v\n", name, err)
		return ExitFailed
	}
	model := "the benign offline model (deterministic, not an LLM); simulated user as stated"
	if o.suite == "attacks" || o.suite == "search" {
		model = "the compromised-LLM adversary: any LLM call whose input holds a scenario's canary gets the attacker's script, every other call the offline model (deterministic, not an LLM)"
	} else if o.suite == "functionality" {
		model = "the benign offline model (deterministic, not an LLM); a user who approves every prompt"
	}
	fmt.Fprintf(stdio.Out, "Model: %s.\nApps: %s.\n\n", model, eo.Mode())
	fmt.Fprint(stdio.Out, table)
	if jsonPath != "" {
		b, err := evaluation.MarshalResults(results)
		if err == nil {
			err = writeFileAtomic(jsonPath, b)
		}
		if err != nil {
			fmt.Fprintf(stdio.Err, "%s: write %s: %v\n", name, jsonPath, err)
			return ExitFailed
		}
	}
	if failed != nil {
		fmt.Fprintf(stdio.Err, "%s: %v\n", name, failed)
		return ExitFailed
	}
	return ExitOK
}

// batches runs the items --parallel at a time, saying on stderr how far
// the run is after each batch (one item a line with --parallel 1).
func batches[T, R any](ctx context.Context, stdio IO, o *evalOpts, items []T, id func(T) string, run func(context.Context, []T) ([]R, error)) ([]R, error) {
	var out []R
	for i := 0; i < len(items); i += o.parallel {
		part := items[i:min(i+o.parallel, len(items))]
		start := time.Now()
		rs, err := run(ctx, part)
		out = append(out, rs...)
		if err != nil {
			return out, err
		}
		ids := make([]string, len(part))
		for j, it := range part {
			ids[j] = id(it)
		}
		fmt.Fprintf(stdio.Err, "eval %s: %d/%d %s (%s)\n", o.suite, i+len(part), len(items), strings.Join(ids, ", "), time.Since(start).Round(time.Millisecond))
	}
	return out, nil
}

// checkWritable reports whether a file can be written at path, without
// touching a file already there.
func checkWritable(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a folder", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".isolategpt-check-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// writeFileAtomic writes b to path through specs/atomicfile.
func writeFileAtomic(path string, b []byte) error {
	return atomicfile.WriteFile(path, b, 0o644)
}

// Architectures of `ask --arch` and `batch --arch`.
const (
	archIsolated = "isolated"
	archVanilla  = "vanilla"
)

func archFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "arch", archIsolated, "isolated | vanilla: the non-isolated baseline (one LLM context, no isolation, no mediation, no permission prompts), for comparison only")
}

func checkArch(arch string, stdio IO, cmd string) bool {
	if arch == archIsolated || arch == archVanilla {
		return true
	}
	fmt.Fprintf(stdio.Err, "isolategpt %s: --arch %q: want isolated or vanilla\n", cmd, arch)
	return false
}

// vanillaOpener builds the baseline over the engine's catalog, model and
// apps' folders; it remembers each user's turns in the data folder.
func vanillaOpener(c *common, e *engine.Engine, stdio IO) (func(ctx context.Context, user string, p frontend.Prompter) (batch.Session, error), error) {
	var model llms.Model
	info := e.ModelInfo()
	if !info.Offline {
		m, _, err := llm.New(llm.Config{Spec: c.llm, Getenv: stdio.Getenv})
		if err != nil {
			return nil, err
		}
		model = m
	}
	v, err := vanilla.New(vanilla.Config{
		Catalog: e.Catalog(), Launcher: &launch.Launcher{AllowWeaker: c.weaker}, Model: model, Info: info,
		AppsDir: filepath.Join(c.data, "apps"), Memory: &vanilla.FileMemory{Dir: filepath.Join(c.data, "vanilla")},
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(stdio.Err, "baseline (--arch vanilla): one LLM context with every app, no isolation, no permission prompts")
	return func(ctx context.Context, user string, _ frontend.Prompter) (batch.Session, error) {
		return v.OpenSession(ctx, user)
	}, nil
}
