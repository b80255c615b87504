// Package label is the hub's provenance model: the set of origins a value
// carries (the user's current query, the planner, the user's earlier
// queries, each app output), how a plan literal is labelled, and how sets
// combine. Warnings are computed from these sets, never from the text of
// the values (DESIGN.md P8).
//
// A label set is assigned where a value enters the hub — a plan literal, an
// app's result, an agent's answer, an ISC request — and every step,
// operator and agent task propagates it: a result carries its app's label
// and the labels of everything the app was given, an operator's result the
// labels of every step it compared.
package label

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is what a label says a value came from.
type Kind string

// The origins a value can have.
const (
	// Query: the user's current query. A literal gets it only when it
	// provably occurs in the query text the planner was given (Literal).
	Query Kind = "query"
	// Planner: written by the planner. The planner read the query, the
	// hub's memory and the catalog's identifiers, never an app's output;
	// its words are not the user's.
	Planner Kind = "planner"
	// Memory: the user's earlier queries, as the hub remembers them (the
	// planner's memory, or a spoke's memory of earlier tasks).
	Memory Kind = "memory"
	// App: an app's output — a function's result, an error text, or the
	// answer of the app's assistant (Function "*").
	App Kind = "app"
)

// Assistant is the Function of an App label for what an app's assistant
// (its agent loop) produced rather than one of its functions.
const Assistant = "*"

// Label is one origin.
type Label struct {
	Kind Kind `json:"kind"`
	// App, Function and Step name an app output: which app, which of its
	// functions (Assistant for its agent loop) and which plan step ("isc"
	// for a request an app made through the hub).
	App      string `json:"app,omitempty"`
	Function string `json:"function,omitempty"`
	Step     string `json:"step,omitempty"`
}

// Output labels what app produced in step with function.
func Output(app, function, step string) Label {
	if function == "" {
		function = Assistant
	}
	return Label{Kind: App, App: app, Function: function, Step: step}
}

// Source names the producer of an app label as "app.function" ("app.*"
// for its assistant); for the other kinds it is the kind.
func (l Label) Source() string {
	if l.Kind != App {
		return string(l.Kind)
	}
	return l.App + "." + l.Function
}

// String is the label in a stable written form ("app:mail.search@s1").
func (l Label) String() string {
	if l.Kind != App {
		return string(l.Kind)
	}
	s := "app:" + l.Source()
	if l.Step != "" {
		s += "@" + l.Step
	}
	return s
}

// Set is a sorted set of labels without repeats. The zero Set is empty; a
// Set is never modified in place once built.
type Set []Label

// Of builds a set.
func Of(ls ...Label) Set { return Set(nil).Add(ls...) }

// Add returns the set with ls added.
func (s Set) Add(ls ...Label) Set {
	out := slices.Clone(s)
	for _, l := range ls {
		i, found := slices.BinarySearchFunc(out, l, compare)
		if !found {
			out = slices.Insert(out, i, l)
		}
	}
	return out
}

// Union returns every label of s and of each of os.
func (s Set) Union(os ...Set) Set {
	out := s
	for _, o := range os {
		out = out.Add(o...)
	}
	return out
}

func compare(a, b Label) int {
	return strings.Compare(a.String(), b.String())
}

// Has reports whether the set holds a label of kind k.
func (s Set) Has(k Kind) bool {
	return slices.ContainsFunc(s, func(l Label) bool { return l.Kind == k })
}

// FromApps reports whether any label is an app output.
func (s Set) FromApps() bool { return s.Has(App) }

// FromOtherApp reports whether any label is the output of an app other
// than app.
func (s Set) FromOtherApp(app string) bool {
	return slices.ContainsFunc(s, func(l Label) bool { return l.Kind == App && l.App != app })
}

// OnlyQuery reports whether every label is the user's current query (an
// empty set is not: nothing proves it is the user's).
func (s Set) OnlyQuery() bool {
	return len(s) > 0 && !slices.ContainsFunc(s, func(l Label) bool { return l.Kind != Query })
}

// Sources lists each distinct origin once, in the set's order: "query",
// "planner", "memory", or "app.function" for app outputs (steps merged).
func (s Set) Sources() []string {
	var out []string
	for _, l := range s {
		if src := l.Source(); !slices.Contains(out, src) {
			out = append(out, src)
		}
	}
	return out
}

// Apps lists the apps whose output is in the set, sorted.
func (s Set) Apps() []string {
	var out []string
	for _, l := range s {
		if l.Kind == App && !slices.Contains(out, l.App) {
			out = append(out, l.App)
		}
	}
	slices.Sort(out)
	return out
}

// String is the set in its written form, for keys and logs.
func (s Set) String() string {
	parts := make([]string, len(s))
	for i, l := range s {
		parts[i] = l.String()
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Check reports whether every label is well formed: a known kind, and an
// app label names an app and a function.
func (s Set) Check() error {
	for _, l := range s {
		switch l.Kind {
		case Query, Planner, Memory:
			if l.App != "" || l.Function != "" || l.Step != "" {
				return fmt.Errorf("label %s names an app", l.Kind)
			}
		case App:
			if l.App == "" || l.Function == "" {
				return fmt.Errorf("app label without app or function: %+v", l)
			}
		default:
			return fmt.Errorf("unknown label kind %q", l.Kind)
		}
	}
	return nil
}
