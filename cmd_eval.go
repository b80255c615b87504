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
)

// Eval runs `isolategpt eval attacks|functionality|case-studies [flags]`:
// the evaluation suites on the isolated architecture and the baseline,
// printed as Markdown tables (the same on every run), with --json for the
// full results.
func Eval(args []string, stdio IO) int {
	if len(args) == 0 || !slices.Contains([]string{"attacks", "search", "functionality", "case-studies"}, args[0]) {
		fmt.Fprintln(stdio.Err, "usage: isolategpt eval attacks|search|functionality|case-studies [--sandbox] [--json FILE]")
		return ExitUsage
	}
	suite := args[0]
	fs := flag.NewFlagSet("eval "+suite, flag.ContinueOnError)
	fs.SetOutput(stdio.Err)
	sandboxed := fs.Bool("sandbox", false, "run every app in its sandboxed worker process (default: in-process, same app code)")
	weaker := fs.Bool("allow-weaker-sandbox", stdio.Getenv != nil && stdio.Getenv("ISOLATEGPT_ALLOW_WEAKER_SANDBOX") == "1", "with --sandbox: start workers even where this host cannot give every sandbox layer")
	jsonPath := fs.String("json", "", "also write the full results as JSON to this file")
	only := fs.String("scenario", "", "attacks: run only the scenario with this id")
	dir := fs.String("dir", "", "attacks: run the scenario files (*.json) in this folder instead of the shipped ones")
	full := fs.Bool("full", false, "search: every attempt of every class against every simulated user (default: the bounded set CI runs)")
	outDir := fs.String("out", "", "search: write the scenario file of every successful attempt into this folder")
	parallel := fs.Int("parallel", 1, "run this many scenarios at once (the tables are the same)")
	offList := fs.String("off", "", "attacks: switch these defences off (comma-separated names; see --ablate's table) for the whole run")
	ablate := fs.Bool("ablate", false, "attacks: run each claimed scenario with the defences it relies on switched off; fails unless every attack then succeeds")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long")
	if err := fs.Parse(args[1:]); err != nil {
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stdio.Err, "isolategpt eval: unexpected argument %q\n", fs.Arg(0))
		return ExitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	o := evaluation.Options{Sandboxed: *sandboxed, AllowWeakerSandbox: *weaker, Parallel: *parallel}
	if *offList != "" {
		var off []defence.Name
		for _, n := range strings.Split(*offList, ",") {
			off = append(off, defence.Name(strings.TrimSpace(n)))
		}
		d, err := defence.Off(off...)
		if err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt eval: --off: %v\n", err)
			return ExitUsage
		}
		o.Defences = d
	}
	var (
		results any
		table   string
		err     error
		// failed is a finding that makes the run's exit status say so:
		// a claimed defence lost, or a claim that cannot fail.
		failed error
	)
	switch suite {
	case "attacks":
		var scs []*scenario.Scenario
		if *dir != "" {
			scs, err = evaluation.LoadScenarios(*dir)
		} else {
			scs, err = evaluation.Scenarios()
		}
		if err != nil {
			break
		}
		if *only != "" {
			scs = slices.DeleteFunc(scs, func(s *scenario.Scenario) bool { return s.ID != *only })
			if len(scs) == 0 {
				fmt.Fprintf(stdio.Err, "isolategpt eval: no scenario %q\n", *only)
				return ExitUsage
			}
		}
		if *ablate {
			var as []evaluation.Ablation
			as, err = evaluation.RunAblation(ctx, scs, o)
			results, table = as, evaluation.AblationTable(as)
			for _, a := range as {
				if !a.CanFail() && err == nil {
					failed = fmt.Errorf("scenario %s cannot fail: %s", a.Scenario, a.Problem)
				}
			}
			break
		}
		var rs []evaluation.Result
		rs, err = evaluation.RunAttacks(ctx, scs, o)
		results, table = rs, evaluation.AttackTable(scs, rs)+"\n"+evaluation.AttackSummary(scs, rs)+"\n"+evaluation.ClassTable(rs)
		if lost := evaluation.ClaimedLosses(rs); len(lost) > 0 && err == nil {
			failed = fmt.Errorf("%d attack(s) the design claims to stop succeeded (first: %s against %s)", len(lost), lost[0].Scenario, lost[0].User)
		}
	case "search":
		var as []search.Attempt
		if as, err = search.Generate(*full); err != nil {
			break
		}
		us := search.Users(*full)
		var outs []search.Outcome
		if outs, err = search.Run(ctx, as, us, o); err != nil {
			break
		}
		if *outDir != "" {
			if err = search.WriteReproducers(*outDir, as, outs); err != nil {
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
		rs, err = evaluation.RunFunctionality(ctx, cs, o)
		results, table = rs, evaluation.FunctionalityTable(rs)+"\n"+evaluation.FunctionalityDetail(rs)
	case "case-studies":
		var css []*evaluation.CaseStudy
		if css, err = evaluation.CaseStudies(); err != nil {
			break
		}
		var rs []evaluation.CaseStudyResult
		rs, err = evaluation.RunCaseStudies(ctx, css, o)
		results, table = rs, evaluation.CaseStudyTable(rs)
	}
	if err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt eval %s: %v\n", suite, err)
		return ExitFailed
	}
	model := "the benign offline model (deterministic, not an LLM); simulated user as stated"
	if suite == "attacks" || suite == "search" {
		model = "the compromised-LLM adversary: any LLM call whose input holds a scenario's canary gets the attacker's script, every other call the offline model (deterministic, not an LLM)"
	} else if suite == "functionality" {
		model = "the benign offline model (deterministic, not an LLM); a user who approves every prompt"
	}
	fmt.Fprintf(stdio.Out, "Model: %s.\nApps: %s.\n\n", model, o.Mode())
	fmt.Fprint(stdio.Out, table)
	if *jsonPath != "" {
		b, err := evaluation.MarshalResults(results)
		if err == nil {
			err = os.WriteFile(*jsonPath, b, 0o644)
		}
		if err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt eval %s: write %s: %v\n", suite, *jsonPath, err)
			return ExitFailed
		}
	}
	if failed != nil {
		fmt.Fprintf(stdio.Err, "isolategpt eval %s: %v\n", suite, failed)
		return ExitFailed
	}
	return ExitOK
}

// Architectures of `ask --arch` and `batch --arch`.
const (
	archIsolated = "isolated"
	archVanilla  = "vanilla"
)

func archFlag(fs *flag.FlagSet) *string {
	return fs.String("arch", archIsolated, "isolated | vanilla: the non-isolated baseline (one LLM context, no isolation, no mediation, no permission prompts), for comparison only")
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
