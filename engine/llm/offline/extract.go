package offline

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/isolategpt/isolategpt/specs/schema"
)

// facts are what the offline model can read off a query without
// understanding it: quoted strings, a "from … to …" route, e-mail addresses,
// dates, numbers and "key = value" pairs.
type facts struct {
	text   string // lower case
	words  map[string]bool
	quoted []string
	// roles holds, for each quoted value, the word just before it that
	// says what the value is ("with content", "named", "to"), or "".
	roles   []string
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
	prev := 0
	for _, m := range quotedRE.FindAllStringSubmatchIndex(q, -1) {
		for g := 1; g < len(m)/2; g++ {
			if m[2*g] < 0 {
				continue
			}
			f.quoted = append(f.quoted, strings.TrimSpace(q[m[2*g]:m[2*g+1]]))
			f.roles = append(f.roles, roleWord(q[prev:m[2*g]]))
		}
		prev = m[1]
	}
	// A quoted route says which end is which by "from" and "to", in either
	// order; otherwise read "from X to Y".
	for i, r := range f.roles {
		switch {
		case r == "from" && f.from == "":
			f.from = f.quoted[i]
		case r == "to" && f.to == "":
			f.to = f.quoted[i]
		}
	}
	if f.from == "" && f.to == "" {
		if m := routeRE.FindStringSubmatch(q); m != nil {
			f.from, f.to = clean(m[1]), clean(m[2])
		}
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

// Mentions of an app, by how surely the query names it.
const (
	mentionNone = iota
	// mentionWord: an app whose id is a plain word ("files", "drive")
	// appears as a word, which may be just a word ("list my files").
	mentionWord
	// mentionName: the query names the app: an id written as an
	// identifier ("metro_hail", "metro hail", "metrohail"), or a plain id
	// where a name goes ("use files", "in drive", "the mail app",
	// "drive: …").
	mentionName
)

// namePlace finds a plain word used as a name: after "use", "with",
// "in", … (and an optional "my"), before "app", or first and followed by
// a colon.
const namePlace = `(?:\b(?:use|using|with|in|on|from|via|ask|open|through|to|into)\s+(?:my\s+|the\s+)?%[1]s\b|\b%[1]s\s+app\b|^\s*%[1]s\s*:)`

// mentions reports whether the query names an app, and how surely.
func (f facts) mentions(app string) int {
	text := instruction(f.text)
	if strings.Contains(app, "_") {
		for _, form := range []string{app, strings.ReplaceAll(app, "_", " "), strings.ReplaceAll(app, "_", "")} {
			if regexp.MustCompile(`\b` + regexp.QuoteMeta(form) + `\b`).MatchString(text) {
				return mentionName
			}
		}
		return mentionNone
	}
	q := regexp.QuoteMeta(app)
	if regexp.MustCompile(fmt.Sprintf(namePlace, q)).MatchString(text) {
		return mentionName
	}
	if regexp.MustCompile(`\b` + q + `\b`).MatchString(text) {
		return mentionWord
	}
	return mentionNone
}

// roleWords name what a quoted value is, by the parameter names they fit.
// A value is given to the one parameter whose name has a part in the set
// of the word just before it: "with content \"x\"" goes to content,
// "the file \"y\"" to path.
var roleWords = map[string][]string{
	"from": {"start", "from", "origin", "departure", "pickup", "source"},
	"to":   {"end", "to", "destination", "dest", "dropoff", "target"},
	"into": {"path", "file", "directory", "folder"},
	"in":   {"path", "directory", "folder"},
	"at":   {"path"},
	"file": {"path", "file", "filename", "name"}, "files": {"path"},
	"directory": {"path", "directory"}, "folder": {"path", "directory", "folder"}, "dir": {"path", "directory"},
	"path": {"path"}, "named": {"name", "path", "filename"}, "called": {"name", "path", "filename"},
	"name":    {"name", "filename"},
	"content": {"content", "text", "body", "message"}, "contents": {"content", "text", "body"},
	"containing": {"content", "text", "body"}, "saying": {"content", "text", "body", "message"},
	"says": {"content", "text", "body", "message"}, "text": {"content", "text", "body"}, "body": {"body", "content", "message"},
	"message": {"message", "body", "id"}, "subject": {"subject", "title"}, "titled": {"subject", "title"}, "title": {"title", "subject"},
	"about": {"query", "pattern"}, "for": {"query", "pattern"}, "matching": {"query", "pattern"}, "pattern": {"pattern", "query"},
	"contact": {"name"}, "id": {"id"}, "email": {"email", "to"}, "city": {"city"}, "date": {"date"},
}

// fillerWords are words skipped between a role word and its value: "the
// file \"x\"", "to my \"Elm Avenue\"".
var fillerWords = map[string]bool{"the": true, "a": true, "an": true, "my": true, "this": true, "that": true, "of": true, "is": true, "be": true}

// roleWord is the word just before a quoted value (skipping fillers), if
// it says what the value is.
func roleWord(before string) string {
	ws := regexp.MustCompile(`[\p{L}\p{N}_]+`).FindAllString(strings.ToLower(before), -1)
	for i := len(ws) - 1; i >= 0 && i >= len(ws)-3; i-- {
		if fillerWords[ws[i]] {
			continue
		}
		if _, ok := roleWords[ws[i]]; ok {
			return ws[i]
		}
		return ""
	}
	return ""
}

// fitsRole reports whether a parameter name fits a role word.
func fitsRole(param, role string) bool {
	for _, part := range strings.Split(param, "_") {
		if slices.Contains(roleWords[role], part) {
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
	fitsFor := func(name string) func(any) bool {
		if compiled != nil {
			if psc, ok := compiled.Property(name); ok {
				return func(v any) bool { return psc.Validate(v) == nil }
			}
		}
		return func(any) bool { return false }
	}
	var open []string // string parameters still without a value
	for _, name := range names {
		ps, _ := props[name].(map[string]any)
		if v, ok := f.valueFor(name, ps, fitsFor(name)); ok {
			args[name] = v
			continue
		}
		if typ, _ := ps["type"].(string); typ == "string" || typ == "" {
			open = append(open, name)
		}
	}
	f.placeQuoted(args, open, fitsFor)
	var missing []string
	for _, name := range names {
		if _, ok := args[name]; !ok && required[name] {
			missing = append(missing, name)
		}
	}
	return args, missing
}

// placeQuoted gives quoted values to the open parameters: each value to
// the one parameter the word before it names ("with content", "named",
// "the file"); then one value left for one parameter left goes there.
// Anything else is not guessed: two values with nothing to tell them
// apart stay unplaced.
func (f facts) placeQuoted(args map[string]any, open []string, fitsFor func(string) func(any) bool) {
	var unused []int
	for i, q := range f.quoted {
		if (q != f.from || f.roles[i] != "from") && (q != f.to || f.roles[i] != "to") {
			unused = append(unused, i)
		}
	}
	take := func(name string, i int) {
		args[name] = f.quoted[i]
		open = slices.DeleteFunc(open, func(n string) bool { return n == name })
		unused = slices.DeleteFunc(unused, func(j int) bool { return j == i })
	}
	for _, i := range slices.Clone(unused) {
		if f.roles[i] == "" {
			continue
		}
		var fit []string
		for _, name := range open {
			if fitsRole(name, f.roles[i]) && fitsFor(name)(f.quoted[i]) {
				fit = append(fit, name)
			}
		}
		if len(fit) == 1 {
			take(fit[0], i)
		}
	}
	if len(open) == 1 && len(unused) == 1 && fitsFor(open[0])(f.quoted[unused[0]]) {
		take(open[0], unused[0])
	}
}

// loose lists the quoted values a call's arguments do not hold: values the
// user gave that fill could not place.
func (f facts) loose(args map[string]any) []string {
	var out []string
	for _, q := range f.quoted {
		placed := q == f.from || q == f.to
		for _, v := range args {
			if s, ok := v.(string); ok && s == q {
				placed = true
			}
		}
		if !placed {
			out = append(out, q)
		}
	}
	return out
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

func (f facts) valueFor(name string, ps map[string]any, fits func(any) bool) (any, bool) {
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
	return nil, false
}
