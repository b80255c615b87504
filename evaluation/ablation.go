package evaluation

import (
	"context"
	"fmt"
	"strings"

	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/evaluation/scenario"
	"github.com/isolategpt/isolategpt/evaluation/users"
)

// Ablation is one claimed scenario run with the defences it relies on
// switched off. A claim that is real can fail: with its defences off, the
// attack must succeed against one of the users the claim holds against.
// They are tried in table order until one loses.
type Ablation struct {
	Scenario string         `json:"scenario"`
	Off      []defence.Name `json:"defences_off"`
	Users    []string       `json:"users"`
	// SucceededAgainst is the first user the attack succeeded against with
	// the defences off ("" if none); Stopped are the users tried before.
	SucceededAgainst string   `json:"succeeded_against,omitempty"`
	Stopped          []string `json:"stopped,omitempty"`
	// Problem, when set, is why the scenario cannot fail: it names no
	// defence, or the attack never succeeds even with its defences off.
	Problem string   `json:"problem,omitempty"`
	Results []Result `json:"results,omitempty"`
}

// CanFail reports whether the ablation saw the attack succeed.
func (a Ablation) CanFail() bool { return a.Problem == "" }

// RunAblation runs every claimed scenario with its named defences off.
// Scenarios that claim nothing, or are pending, are left out.
func RunAblation(ctx context.Context, scs []*scenario.Scenario, o Options) ([]Ablation, error) {
	var claimed []*scenario.Scenario
	for _, sc := range scs {
		if sc.Defence != scenario.DefenceNone && pendingReason(sc) == "" {
			claimed = append(claimed, sc)
		}
	}
	out := make([]Ablation, len(claimed))
	err := Each(len(claimed), o.Workers(), func(i int) error {
		a, err := ablate(ctx, claimed[i], o)
		out[i] = a
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ablate runs one claimed scenario with its named defences off.
func ablate(ctx context.Context, sc *scenario.Scenario, o Options) (Ablation, error) {
	a := Ablation{Scenario: sc.ID, Off: sc.ReliesOn, Users: sc.HoldsAgainstUsers()}
	if len(sc.ReliesOn) == 0 {
		a.Problem = "names no defence it relies on (relies_on), so nothing shows its claim can fail"
		return a, nil
	}
	off, err := defence.Off(append(o.Defences.Disabled(), sc.ReliesOn...)...)
	if err != nil {
		return a, fmt.Errorf("ablation of %s: %w", sc.ID, err)
	}
	oo := o
	oo.Defences = off
	for _, u := range a.Users {
		r, err := RunScenario(ctx, sc, Isolated, u, oo)
		if err != nil {
			return a, fmt.Errorf("ablation of %s (%s): %w", sc.ID, u, err)
		}
		a.Results = append(a.Results, r)
		if r.AttackSucceeded {
			a.SucceededAgainst = u
			return a, nil
		}
		a.Stopped = append(a.Stopped, u)
	}
	a.Problem = "the attack does not succeed even with " + names(sc.ReliesOn) + " off: the claim rests on something else, or the scenario cannot fail"
	return a, nil
}

// AblationTable renders the ablation: per scenario, the defences switched
// off and the first simulated user (of those the claim holds against) the
// attack then succeeded against.
func AblationTable(as []Ablation) string {
	var b strings.Builder
	b.WriteString("| scenario | defences switched off | claim holds against | with them off, the attack succeeds against | can fail? |\n|---|---|---|---|---|\n")
	for _, a := range as {
		against := a.SucceededAgainst
		switch {
		case against == "" && len(a.Stopped) > 0:
			against = "nobody (stopped for " + strings.Join(a.Stopped, ", ") + ")"
		case against == "":
			against = "–"
		case len(a.Stopped) > 0:
			against += " (stopped for " + strings.Join(a.Stopped, ", ") + ")"
		}
		canFail := "yes"
		if !a.CanFail() {
			canFail = "**NO**"
		}
		who := strings.Join(a.Users, ", ")
		if len(a.Users) == len(users.All) {
			who = "all"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", a.Scenario, names(a.Off), who, against, canFail)
	}
	var bad []string
	for _, a := range as {
		if !a.CanFail() {
			bad = append(bad, fmt.Sprintf("- %s: %s", a.Scenario, a.Problem))
		}
	}
	if len(bad) > 0 {
		fmt.Fprintf(&b, "\nScenarios that cannot fail (the suite fails on them):\n%s\n", strings.Join(bad, "\n"))
	}
	b.WriteString("\nDefences:\n")
	for _, d := range defence.All() {
		fmt.Fprintf(&b, "- %s: %s\n", d, defence.Describe(d))
	}
	return b.String()
}
