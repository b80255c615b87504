package offline

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"

	"github.com/isolategpt/isolategpt/specs/schema"
)

// facts are what the offline model can read off a query without
// understanding it: quoted strings, a "from … to …" route, e-mail addresses,
// dates, numbers and "key = value" pairs.
type facts struct {
	text    string // lower case
	words   map[string]bool
	quoted  []string
	from    string
	to      string
	emails  []string
	dates   []string
	numbers []string
	pairs   map[string]string
}

var (
	// A single quote opens a quotation only where it does not sit inside a
	// word, so the apostrophes of "I'd … don't" quote nothing.
	quotedRE = regexp.MustCompile(`"([^"]+)"|“([^”]+)”|(?:^|[^\p{L}\p{N}])'([^']{2,})'`)
	routeRE  = regexp.MustCompile(`(?i)\bfrom\s+(.+?)\s+to\s+(.+?)(?:\s+(?:on|at|by|for|with|and)\s|[.,;?!]|$)`)
	emailRE  = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)
	dateRE   = regexp.MustCompile(`(?i)\b\d{4}-\d{2}-\d{2}\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?(?:,?\s+\d{4})?\b`)
	numberRE = regexp.MustCompile(`(?:^|\s|\$)(-?\d+(?:\.\d+)?)\b`)
	pairRE   = regexp.MustCompile(`([A-Za-z][A-Za-z0-9_ ]{0,40}?)\s*=\s*([^,;\n]+)`)
	// An identifier joined by underscores (an app id such as quick_ride, a
	// function name) is one word: its parts are not words of the query.
	wordRE = regexp.MustCompile(`[a-z0-9]+(?:_[a-z0-9]+)*`)
)

func readFacts(q string) facts {
	f := facts{text: strings.ToLower(q), words: map[string]bool{}, pairs: map[string]string{}}
	for _, w := range wordRE.FindAllString(f.text, -1) {
		f.words[w] = true
		for _, s := range stems(w) {
			f.words[s] = true
		}
	}
	for _, m := range quotedRE.FindAllStringSubmatch(q, -1) {
		for _, g := range m[1:] {
			if g != "" {
				f.quoted = append(f.quoted, strings.TrimSpace(g))
			}
		}
	}
	// A route between quotes is the clearest; otherwise read "from X to Y".
	if len(f.quoted) >= 2 && strings.Contains(f.text, "from") {
		f.from, f.to = f.quoted[0], f.quoted[1]
	} else if m := routeRE.FindStringSubmatch(q); m != nil {
		f.from, f.to = clean(m[1]), clean(m[2])
	}
	f.emails = emailRE.FindAllString(q, -1)
	f.dates = dateRE.FindAllString(q, -1)
	for _, m := range numberRE.FindAllStringSubmatch(q, -1) {
		f.numbers = append(f.numbers, m[1])
	}
	for _, m := range pairRE.FindAllStringSubmatch(q, -1) {
		k := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(m[1])), " ", "_")
		f.pairs[k] = clean(m[2])
	}
	return f
}

func clean(s string) string {
	return strings.Trim(strings.TrimSpace(s), `"'“”.`)
}

// stems folds the few endings that matter for matching function names:
// "fares" → "fare" (and "far"), "booking" → "book". Every ending that
// applies gives a candidate, since "es" is a plural ending for "matches"
// but not for "fares".
func stems(w string) []string {
	var out []string
	for _, suf := range []string{"ing", "es", "s", "ed"} {
		if len(w) > len(suf)+2 && strings.HasSuffix(w, suf) {
			out = append(out, strings.TrimSuffix(w, suf))
		}
	}
	return out
}

// verbSynonyms are other words a user writes for a function's verb:
// "schedule an appointment" asks for book_appointment.
var verbSynonyms = map[string][]string{
	"book": {"schedule", "reserve"},
}

// has reports whether the query contains the word w, one of its stems or,
// for a verb, one of its synonyms.
func (f facts) has(w string) bool {
	for _, form := range append([]string{w}, verbSynonyms[w]...) {
		if f.words[form] {
			return true
		}
		for _, s := range stems(form) {
			if f.words[s] {
				return true
			}
		}
	}
	return false
}

// mentions reports whether the query names an app: "metro_hail",
// "metro hail" or "metrohail".
func (f facts) mentions(app string) bool {
	for _, form := range []string{app, strings.ReplaceAll(app, "_", " "), strings.ReplaceAll(app, "_", "")} {
		re := regexp.MustCompile(`\b` + regexp.QuoteMeta(form) + `\b`)
		if re.MatchString(f.text) {
			return true
		}
	}
	return false
}

// score counts the words of a function name that the query contains; a
// query that spells the whole name ("estimate_fare") contains them all.
func (f facts) score(name string) int {
	parts := strings.Split(name, "_")
	if f.words[name] {
		return len(parts)
	}
	n := 0
	for _, w := range parts {
		if f.has(w) {
			n++
		}
	}
	return n
}

// superlative tells whether the query asks for the lowest or highest.
func (f facts) superlative() string {
	for _, s := range []string{"cheapest", "cheaper", "lowest", "least expensive", "less expensive", "smallest"} {
		if strings.Contains(f.text, s) {
			return "min"
		}
	}
	for _, s := range []string{"most expensive", "highest", "priciest", "largest"} {
		if strings.Contains(f.text, s) {
			return "max"
		}
	}
	return ""
}

// synonyms map a parameter name to the pair keys a user might write.
var synonyms = map[string][]string{
	"dob":            {"date_of_birth", "birthday", "birth_date"},
	"email":          {"email_address", "e-mail"},
	"medical_issues": {"symptoms", "medical_history"},
	"preferred_date": {"date"},
}

// fill tries to give every property of an input schema a value read from
// the query. It returns the arguments and the required names it could not
// fill.
func (f facts) fill(sch map[string]any) (map[string]any, []string) {
	props, _ := sch["properties"].(map[string]any)
	required := map[string]bool{}
	// A catalog straight from plan.Catalog.PlannerView holds []string; the
	// same catalog after a JSON round trip holds []any.
	switch rs := sch["required"].(type) {
	case []string:
		for _, r := range rs {
			required[r] = true
		}
	case []any:
		for _, r := range rs {
			if s, ok := r.(string); ok {
				required[s] = true
			}
		}
	}
	// Only values that fit the parameter's schema are filled in: a plan
	// whose arguments break the schema would be rejected by the hub.
	var compiled *schema.Schema
	if raw, err := json.Marshal(sch); err == nil {
		compiled, _ = schema.Compile(raw)
	}
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	args := map[string]any{}
	var missing []string
	usedQuoted := map[int]bool{}
	for _, name := range names {
		ps, _ := props[name].(map[string]any)
		fits := func(any) bool { return false }
		if compiled != nil {
			if psc, ok := compiled.Property(name); ok {
				fits = func(v any) bool { return psc.Validate(v) == nil }
			}
		}
		if v, ok := f.valueFor(name, ps, usedQuoted, fits); ok {
			args[name] = v
			continue
		}
		if required[name] {
			missing = append(missing, name)
		}
	}
	return args, missing
}

// pair returns the value of "key = value". The key of a pair takes in the
// words before it ("with name = Ada" reads as "with_name"), so a key that
// ends in the wanted name counts too, when only one does.
func (f facts) pair(key string) (string, bool) {
	if v, ok := f.pairs[key]; ok {
		return v, true
	}
	var found []string
	for k := range f.pairs {
		if strings.HasSuffix(k, "_"+key) {
			found = append(found, k)
		}
	}
	if len(found) != 1 {
		return "", false
	}
	return f.pairs[found[0]], true
}

func (f facts) valueFor(name string, ps map[string]any, usedQuoted map[int]bool, fits func(any) bool) (any, bool) {
	typ, _ := ps["type"].(string)
	if typ == "number" || typ == "integer" || typ == "boolean" {
		// "name = value" names the value; otherwise the first number that
		// fits stands for a number.
		for _, key := range append([]string{name}, synonyms[name]...) {
			raw, ok := f.pair(key)
			if !ok {
				continue
			}
			var v any = jsonNumber(raw)
			if typ == "boolean" {
				switch strings.ToLower(raw) {
				case "true", "yes":
					v = true
				case "false", "no":
					v = false
				}
			}
			if fits(v) {
				return v, true
			}
		}
		if typ == "boolean" {
			return nil, false
		}
		for _, n := range f.numbers {
			if v := jsonNumber(n); fits(v) {
				return v, true
			}
		}
		return nil, false
	}
	if typ != "string" && typ != "" {
		return nil, false
	}
	for _, key := range append([]string{name}, synonyms[name]...) {
		if v, ok := f.pair(key); ok && fits(v) {
			return v, true
		}
	}
	format, _ := ps["format"].(string)
	has := func(parts ...string) bool {
		for _, p := range parts {
			for _, w := range strings.Split(name, "_") {
				if w == p {
					return true
				}
			}
		}
		return false
	}
	switch {
	case format == "email" || has("email"):
		for _, e := range f.emails {
			if fits(e) {
				return e, true
			}
		}
		return nil, false
	case format == "date" || has("date", "dob"):
		if has("dob", "birth") {
			return nil, false
		}
		for i := len(f.dates) - 1; i >= 0; i-- {
			if fits(f.dates[i]) {
				return f.dates[i], true
			}
		}
		return nil, false
	case has("start", "from", "origin", "departure", "pickup", "source"):
		if f.from != "" && fits(f.from) {
			return f.from, true
		}
	case has("end", "to", "destination", "dest", "dropoff", "target"):
		if f.to != "" && fits(f.to) {
			return f.to, true
		}
	}
	for i, q := range f.quoted {
		if !usedQuoted[i] && q != f.from && q != f.to && fits(q) {
			usedQuoted[i] = true
			return q, true
		}
	}
	return nil, false
}
