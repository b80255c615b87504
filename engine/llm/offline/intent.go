package offline

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/engine/plan"
)

// The offline model matches words; it does not understand sentences. Where
// a query says something it cannot represent — a negation, an action no
// installed function performs, a name it does not know — it refuses with a
// reason instead of planning its best guess, because its best guess for "do
// NOT book a ride" is a booking.

// Refused starts the answer of a query the offline model refused to plan.
const Refused = "The " + Label + " refused this query: "

var (
	// negationRE finds a negation in the query's own words (quoted values,
	// key = value pairs and addresses are taken out first).
	negationRE = regexp.MustCompile(`\b(?:not|never|no|nor|neither|without|cannot|except|instead|rather|avoid|skip)\b|\b(?:don|doesn|didn|won|wouldn|shouldn|can|couldn|mustn|isn|aren|wasn|weren|haven|hasn)['’]?t\b`)
	// pairValueRE is the value of a key = value pair: the user's data.
	pairValueRE = regexp.MustCompile(`=\s*[^,;\n]+`)
	// tagQuestionRE is a question tag ("…, isn't it?"), which negates
	// nothing the user asks for.
	tagQuestionRE = regexp.MustCompile(`(?i)\b(?:isn|aren|wasn|weren|don|doesn|didn|won|can|couldn|wouldn|shouldn)['’]?t\s+(?:it|you|they|we|he|she|there|i)\s*\?`)
)

// intentVerbs are actions a user may ask for that the catalog's function
// names must spell for the offline model to plan them: "cancel my booking"
// is not a booking, and "delete the newest email" is not a read.
var intentVerbs = []string{
	"cancel", "undo", "revert", "refund", "unbook", "abort", "stop",
	"delete", "remove", "erase", "wipe", "reschedule", "postpone",
	"change", "modify", "edit", "update", "rename", "move", "forward",
	"reply", "archive", "unsubscribe", "decline", "reject",
}

// instruction is the query with the user's data taken out — quoted values,
// the values of key = value pairs, e-mail addresses, question tags — so that what is left are the words
// that say what to do. "saying \"I can't\"" holds no negation.
func instruction(q string) string {
	for _, re := range []*regexp.Regexp{quotedRE, pairValueRE, emailRE, tagQuestionRE} {
		q = re.ReplaceAllString(q, " ")
	}
	return strings.ToLower(q)
}

// refusal says why the plan b built must not run, or "" when it may.
func (b *builder) refusal(catalog []plan.AppEntry) string {
	if len(b.p.Steps) == 0 {
		return ""
	}
	text := instruction(b.query)
	if m := negationRE.FindString(text); m != "" {
		return fmt.Sprintf("it says %q, and the offline model cannot tell what a negation rules out; it plans nothing rather than risk doing what you ruled out.", m)
	}
	words := map[string]bool{}
	for _, w := range wordRE.FindAllString(text, -1) {
		words[w] = true
	}
	planned := b.plannedFunctions(catalog)
	for _, v := range intentVerbs {
		if !slices.ContainsFunc(verbForms(v), func(f string) bool { return words[f] }) {
			continue
		}
		if slices.ContainsFunc(planned, func(fn string) bool { return slices.Contains(strings.Split(fn, "_"), v) }) {
			continue
		}
		return fmt.Sprintf("it asks to %s, and no function in the plan does that (the plan would run %s); the offline model will not run something else in its place.", v, strings.Join(b.targets(), ", "))
	}
	return ""
}

// verbForms are the forms of a verb a query may use: cancel, cancels,
// cancelled, cancelling, cancellation; delete, deleting, deletion.
func verbForms(v string) []string {
	out := []string{v, v + "s", v + "es", v + "ed", v + "d", v + "ing", v + "ion", v + "ation"}
	last := v[len(v)-1:]
	out = append(out, v+last+"ed", v+last+"ing", v+last+"ation")
	if base, ok := strings.CutSuffix(v, "e"); ok {
		out = append(out, base+"ing", base+"ion")
	}
	return out
}

// plannedFunctions are the function names the plan calls, an agent step
// counting as every function of its app.
func (b *builder) plannedFunctions(catalog []plan.AppEntry) []string {
	var out []string
	for _, s := range b.p.Steps {
		switch {
		case s.Function != "":
			out = append(out, s.Function)
		case s.Agent != "":
			for _, a := range catalog {
				if a.App == s.App {
					for _, fn := range a.Functions {
						out = append(out, fn.Name)
					}
				}
			}
		}
	}
	return out
}

// targets names what the plan would run: app.function, app (agent), or
// function on the operator's choice.
func (b *builder) targets() []string {
	var out []string
	for _, s := range b.p.Steps {
		switch {
		case s.Op != "":
		case s.Agent != "":
			out = append(out, s.App+" (its assistant)")
		case s.On != "":
			out = append(out, s.Function+" on the chosen app")
		default:
			out = append(out, s.App+"."+s.Function)
		}
	}
	return out
}

// refuse replaces the plan with none and an answer that says why.
func (b *builder) refuse(reason string) {
	b.p, b.n = plan.Plan{}, 0
	b.answer = []string{Refused + reason + " Rephrase it, or configure an LLM with --llm."}
}

// nearMiss finds a word of the query that looks like an installed app's
// name but is not one (metro_hale for metro_hail). Only ids written as
// identifiers (with an underscore) are compared: a plain word such as
// "mails" is not a misspelt app.
func nearMiss(text string, catalog []plan.AppEntry) (word, app string) {
	ids := map[string]bool{}
	for _, a := range catalog {
		ids[a.App] = true
		for _, fn := range a.Functions {
			ids[fn.Name] = true
		}
	}
	for _, w := range wordRE.FindAllString(text, -1) {
		if ids[w] || len(w) < 5 {
			continue
		}
		for _, a := range catalog {
			if !strings.Contains(a.App, "_") && !strings.Contains(w, "_") {
				continue
			}
			if a.App != w && strings.ReplaceAll(a.App, "_", "") != w && editDistance(w, a.App) <= 2 {
				return w, a.App
			}
		}
	}
	return "", ""
}

// editDistance is the Levenshtein distance of two short ASCII words.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
