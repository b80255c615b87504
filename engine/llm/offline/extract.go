package offline

import (
	"regexp"
	"sort"
	"strings"
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
	quotedRE = regexp.MustCompile(`"([^"]+)"|“([^”]+)”|'([^']{2,})'`)
	routeRE  = regexp.MustCompile(`(?i)\bfrom\s+(.+?)\s+to\s+(.+?)(?:\s+(?:on|at|by|for|with|and)\s|[.,;?!]|$)`)
	emailRE  = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)
	dateRE   = regexp.MustCompile(`(?i)\b\d{4}-\d{2}-\d{2}\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?(?:,?\s+\d{4})?\b`)
	numberRE = regexp.MustCompile(`(?:^|\s|\$)(-?\d+(?:\.\d+)?)\b`)
	pairRE   = regexp.MustCompile(`([A-Za-z][A-Za-z ]{0,30}?)\s*=\s*([^,;\n]+)`)
	wordRE   = regexp.MustCompile(`[a-z0-9]+`)
)

func readFacts(q string) facts {
	f := facts{text: strings.ToLower(q), words: map[string]bool{}, pairs: map[string]string{}}
	for _, w := range wordRE.FindAllString(f.text, -1) {
		f.words[w] = true
		f.words[stem(w)] = true
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

// stem folds the few endings that matter for matching function names:
// "fares" → "fare", "booking" → "book".
func stem(w string) string {
	for _, suf := range []string{"ing", "es", "s", "ed"} {
		if len(w) > len(suf)+2 && strings.HasSuffix(w, suf) {
			return strings.TrimSuffix(w, suf)
		}
	}
	return w
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

// score counts the words of a function name that the query contains.
func (f facts) score(name string) int {
	n := 0
	for _, w := range strings.Split(name, "_") {
		if f.words[w] || f.words[stem(w)] {
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
	if rs, ok := sch["required"].([]any); ok {
		for _, r := range rs {
			if s, ok := r.(string); ok {
				required[s] = true
			}
		}
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
		if v, ok := f.valueFor(name, ps, usedQuoted); ok {
			args[name] = v
			continue
		}
		if required[name] {
			missing = append(missing, name)
		}
	}
	return args, missing
}

func (f facts) valueFor(name string, ps map[string]any, usedQuoted map[int]bool) (any, bool) {
	typ, _ := ps["type"].(string)
	if typ == "number" || typ == "integer" {
		if len(f.numbers) > 0 {
			return jsonNumber(f.numbers[0]), true
		}
		return nil, false
	}
	if typ != "string" && typ != "" {
		return nil, false
	}
	if v, ok := f.pairs[name]; ok {
		return v, true
	}
	for _, alt := range synonyms[name] {
		if v, ok := f.pairs[alt]; ok {
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
		if len(f.emails) > 0 {
			return f.emails[0], true
		}
		return nil, false
	case format == "date" || has("date", "dob"):
		if len(f.dates) > 0 && !has("dob", "birth") {
			return f.dates[len(f.dates)-1], true
		}
		return nil, false
	case has("start", "from", "origin", "departure", "pickup", "source"):
		if f.from != "" {
			return f.from, true
		}
	case has("end", "to", "destination", "dest", "dropoff", "target"):
		if f.to != "" {
			return f.to, true
		}
	}
	for i, q := range f.quoted {
		if !usedQuoted[i] && q != f.from && q != f.to {
			usedQuoted[i] = true
			return q, true
		}
	}
	return nil, false
}
