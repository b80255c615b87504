package evaluation

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/evaluation/scenario"
	"github.com/isolategpt/isolategpt/evaluation/users"
)

// AnyUser stands for the simulated user on the baseline, which asks
// nothing: it runs once and its result holds for every user.
const AnyUser = "any"

// RunAttacks runs every scenario on the isolated architecture with every
// simulated user, and once on the baseline.
func RunAttacks(ctx context.Context, scs []*scenario.Scenario, o Options) ([]Result, error) {
	type job struct {
		sc   *scenario.Scenario
		arch string
		user string
	}
	us := o.Users
	if us == nil {
		us = users.All
	}
	var jobs []job
	for _, sc := range scs {
		for _, u := range us {
			jobs = append(jobs, job{sc, Isolated, u})
		}
		jobs = append(jobs, job{sc, Vanilla, users.ApprovesAll})
	}
	out := make([]Result, len(jobs))
	err := Each(len(jobs), o.Workers(), func(i int) error {
		j := jobs[i]
		oo := o
		if j.arch == Vanilla {
			// The baseline has none of isolategpt's defences to switch.
			oo.Defences = defence.Set{}
		}
		r, err := RunScenario(ctx, j.sc, j.arch, j.user, oo)
		if err != nil {
			return fmt.Errorf("scenario %s on %s (%s): %w", j.sc.ID, j.arch, j.user, err)
		}
		if j.arch == Vanilla {
			r.User = AnyUser
		}
		out[i] = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Adaptive reports whether a result is of an adaptive, defence-aware
// attack (attacks.md item 27), counted apart from the static ones.
func Adaptive(r Result) bool { return slices.Contains(r.Attacks, "E27") }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// cell is one result in a table: a claimed loss stands out.
func attackCell(r Result) string {
	switch {
	case r.Pending != "":
		return "pending"
	case r.AttackSucceeded && r.Claimed:
		return "**YES (claimed)**"
	case r.AttackSucceeded:
		return "yes"
	}
	return "no"
}

func names(ds []defence.Name) string {
	if len(ds) == 0 {
		return "–"
	}
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = string(d)
	}
	return strings.Join(s, ", ")
}

// holds names the users a claim holds against.
func holds(sc scenarioClaim) string {
	if len(sc.users) == 0 {
		return "–"
	}
	if len(sc.users) == len(users.All) {
		return "all"
	}
	return strings.Join(sc.users, ", ")
}

type scenarioClaim struct {
	defence  string
	users    []string
	reliesOn []defence.Name
}

// byScenario groups results per scenario, in their order, keyed by user
// (the baseline under AnyUser's column).
func byScenario(rs []Result) (order []string, rows map[string]map[string]Result) {
	rows = map[string]map[string]Result{}
	for _, r := range rs {
		if rows[r.Scenario] == nil {
			rows[r.Scenario] = map[string]Result{}
			order = append(order, r.Scenario)
		}
		k := r.User
		if r.Arch == Vanilla {
			k = Vanilla
		}
		rows[r.Scenario][k] = r
	}
	return order, rows
}

// AttackTable renders results as a Markdown table: one row per scenario,
// whether the attack succeeded against isolategpt with each simulated
// user and against the baseline.
func AttackTable(scs []*scenario.Scenario, rs []Result) string {
	claims := claimsOf(scs)
	var b strings.Builder
	b.WriteString("| scenario | attacks | claim | holds against | relies on |")
	for _, u := range users.All {
		fmt.Fprintf(&b, " isolated, %s |", u)
	}
	b.WriteString(" vanilla | benign done (isolated, approves-all / vanilla) | prompts (warned), approves-all |\n|---|---|---|---|---|")
	b.WriteString(strings.Repeat("---|", len(users.All)+3) + "\n")
	order, rows := byScenario(rs)
	for _, id := range order {
		row := rows[id]
		any := row[users.ApprovesAll]
		c := claims[id]
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |", id, strings.Join(any.Attacks, ", "), c.defence, holds(c), names(c.reliesOn))
		for _, u := range users.All {
			fmt.Fprintf(&b, " %s |", attackCell(row[u]))
		}
		v := row[Vanilla]
		fmt.Fprintf(&b, " %s | %s / %s | %d (%d) |\n", attackCell(v), yesNo(any.BenignDone), yesNo(v.BenignDone), any.Prompts, any.Warned)
	}
	return b.String()
}

func claimsOf(scs []*scenario.Scenario) map[string]scenarioClaim {
	out := map[string]scenarioClaim{}
	for _, sc := range scs {
		out[sc.ID] = scenarioClaim{defence: sc.Defence, users: sc.HoldsAgainstUsers(), reliesOn: sc.ReliesOn}
	}
	return out
}

// ClaimedLosses are the results where an attack the design claims to stop
// succeeded.
func ClaimedLosses(rs []Result) []Result {
	var out []Result
	for _, r := range rs {
		if r.Claimed && r.AttackSucceeded && r.Pending == "" {
			out = append(out, r)
		}
	}
	return out
}

// AttackSummary counts the results per architecture and simulated user and
// lists, honestly, the scenarios whose defence rests on the user and those
// the design does not claim to stop.
func AttackSummary(scs []*scenario.Scenario, rs []Result) string {
	type tally struct{ ran, static, attacked, adaptive, adaptiveHit, claimedLost, benign, prompts int }
	t := map[string]*tally{}
	var order []string
	pending := map[string]string{}
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
		if Adaptive(r) {
			x.adaptive++
			if r.AttackSucceeded {
				x.adaptiveHit++
			}
		} else {
			x.static++
			if r.AttackSucceeded {
				x.attacked++
			}
		}
		if r.Claimed && r.AttackSucceeded {
			x.claimedLost++
		}
		if r.BenignDone {
			x.benign++
		}
	}
	var b strings.Builder
	b.WriteString("| architecture / simulated user | scenarios run | static attacks succeeded | adaptive attacks succeeded | claimed and lost | benign tasks done | prompts shown |\n|---|---|---|---|---|---|---|\n")
	for _, k := range order {
		x := t[k]
		fmt.Fprintf(&b, "| %s | %d | %d of %d | %d of %d | %d | %d | %d |\n", k, x.ran, x.attacked, x.static, x.adaptiveHit, x.adaptive, x.claimedLost, x.benign, x.prompts)
	}
	list := func(title string, keep func(*scenario.Scenario) bool) {
		var lines []string
		for _, sc := range scs {
			if keep(sc) {
				lines = append(lines, fmt.Sprintf("- %s: %s", sc.ID, sc.Title))
			}
		}
		if len(lines) > 0 {
			fmt.Fprintf(&b, "\n%s\n%s\n", title, strings.Join(lines, "\n"))
		}
	}
	list("Scenarios whose defence relies on the user denying a request the hub marks as warned (they succeed against a user who approves everything):",
		func(sc *scenario.Scenario) bool { return sc.Defence == scenario.DefenceWarned })
	list("Scenarios the design does not claim to stop (reported as they come out):",
		func(sc *scenario.Scenario) bool { return sc.Defence == scenario.DefenceNone })
	if len(pending) > 0 {
		ids := make([]string, 0, len(pending))
		for id := range pending {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		b.WriteString("\nPending scenarios (not run, never counted as passed):\n")
		for _, id := range ids {
			fmt.Fprintf(&b, "- %s: %s\n", id, pending[id])
		}
	}
	b.WriteString("\nSimulated users:\n")
	for _, u := range users.All {
		fmt.Fprintf(&b, "- %s: %s\n", u, users.Describe(u))
	}
	fmt.Fprintf(&b, "- %s (the baseline): asks nothing, so it runs once and its result holds for every user\n", AnyUser)
	return b.String()
}
