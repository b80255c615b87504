// Package defence names the hub's defences so that one can be switched off
// on purpose — by the evaluation's ablation only — and a test can show that
// the attack it stops then succeeds. The zero Set has every defence on;
// nothing outside the evaluation builds any other.
package defence

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Name is one defence.
type Name string

// The defences. Each is checked at exactly one enforcement point; the
// comment says where. Add new ones here (and to described) — the
// evaluation's ablation refuses a scenario naming an unknown defence.
const (
	// PlannerIsolation: the planner sees identifiers and typed schemas only,
	// never an app's description or output (engine/plan PlannerView).
	PlannerIsolation Name = "planner_isolation"
)

// described is every defence with one line on what it stops.
var described = map[Name]string{
	PlannerIsolation: "the planner never reads app-authored text",
}

// Set is which defences are on. The zero value has every defence on.
type Set struct {
	off map[Name]bool
}

// Off returns the set with the named defences switched off; an unknown
// name is an error, so a typo cannot leave a defence on unnoticed.
func Off(names ...Name) (Set, error) {
	s := Set{off: map[Name]bool{}}
	for _, n := range names {
		if _, ok := described[n]; !ok {
			return Set{}, fmt.Errorf("unknown defence %q (known: %s)", n, strings.Join(names2strings(All()), ", "))
		}
		s.off[n] = true
	}
	return s, nil
}

// On reports whether defence n is on.
func (s Set) On(n Name) bool { return !s.off[n] }

// Disabled lists the defences switched off, sorted.
func (s Set) Disabled() []Name {
	var out []Name
	for n, off := range s.off {
		if off {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Known reports whether n names a defence.
func Known(n Name) bool { _, ok := described[n]; return ok }

// Describe says in a line what defence n stops.
func Describe(n Name) string { return described[n] }

// All lists every defence, sorted.
func All() []Name {
	out := make([]Name, 0, len(described))
	for n := range described {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func names2strings(ns []Name) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = string(n)
	}
	return out
}
