package offline

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/specs/schema"
)

// Mail queries are recognised by what the catalog's functions look like, not
// by app ids: a mailer is any app with a "send" (or "draft") function taking
// "to" and "message"; a file source is any other app with a read function
// whose whole result fits the mailer's "attachment" parameter. So the
// original's collaboration query, "send an email to John Doe with
// annual_report.pdf from drive as an attachment", becomes
//
//	c1 = mail.find_contact(name: "John Doe")
//	d2 = drive.retrieve(query: "annual_report.pdf")
//	s3 = mail.send(to: c1.email, attachment: d2, subject, message)
//
// and the hub asks the user before drive's file flows into mail.send.

var (
	// fileRE finds a file name: a word with an extension. E-mail addresses
	// are removed from the text first.
	fileRE = regexp.MustCompile(`(?:^|[\s"'“(])([A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*\.[A-Za-z][A-Za-z0-9]{1,4})\b`)
	// recipientRE reads "to John Doe": capitalised words after "to".
	recipientRE = regexp.MustCompile(`\bto\s+((?:\p{Lu}[\p{L}'-]*)(?:\s+\p{Lu}[\p{L}'-]*){0,3})`)
	// subjectRE reads `subject "…"` and `titled "…"`.
	subjectRE = regexp.MustCompile(`(?i)\b(?:subject(?:\s+line)?|titled)\s*(?:of\s+|:\s*|=\s*)?["“]([^"”]+)["”]`)
	// bodyRE reads `saying "…"`, `message "…"`, `body "…"` and `that says "…"`.
	bodyRE = regexp.MustCompile(`(?i)\b(?:saying|says|message|body|text)\s*(?::\s*|=\s*)?["“]([^"”]+)["”]`)
	// newestRE asks for the latest message.
	newestRE = regexp.MustCompile(`(?i)\b(?:newest|latest|most recent|last)\s+(?:(?:sent|received|incoming|drafted)\s+)?(?:e-?mail|mail|message|draft)\b`)
	// aboutRE reads "emails about budget", "messages from Jane".
	aboutRE = regexp.MustCompile(`(?i)\b(?:e-?mails?|mails|messages|inbox)\s+(?:about|for|from|mentioning|on|with)\s+["“]?([^"”.?!,;]+)`)
)

// mailWords tells whether the query is about e-mail at all.
func (f facts) mailWords() bool {
	for _, w := range []string{"email", "emails", "e-mail", "mail", "mails", "inbox", "message", "messages"} {
		if f.words[w] {
			return true
		}
	}
	return strings.Contains(f.text, "e-mail")
}

// mail plans mail and drive queries; it reports whether it wrote a plan.
func (b *builder) mail(catalog []plan.AppEntry) bool {
	if !b.f.mailWords() {
		return false
	}
	ok := false
	switch {
	case b.f.has("send") || b.f.has("draft") || b.f.words["email"] && recipientRE.MatchString(b.query):
		ok = b.composeMail(catalog)
	case newestRE.MatchString(b.query):
		ok = b.newestMail(catalog)
	case aboutRE.MatchString(b.query) || b.f.has("search"):
		ok = b.searchMail(catalog)
	}
	if ok && !b.fits(catalog) {
		ok = false
	}
	if !ok {
		// Leave the builder as it was, for the planner's other rules.
		b.p, b.answer, b.n = plan.Plan{}, nil, 0
	}
	return ok
}

// fits checks every literal argument against its parameter's schema: a
// plan the hub would reject is worse than the fallback rules' plan.
func (b *builder) fits(catalog []plan.AppEntry) bool {
	for _, s := range b.p.Steps {
		var fn plan.FunctionEntry
		found := false
		for _, a := range catalog {
			if a.App == s.App {
				fn, found = function(a, s.Function)
			}
		}
		if !found {
			return false
		}
		in, err := compileMap(fn.Input)
		if err != nil {
			return false
		}
		for name, raw := range s.Args {
			if strings.Contains(string(raw), `"$ref"`) {
				continue
			}
			ps, ok := in.Property(name)
			if !ok {
				return false
			}
			v, err := schema.Decode(raw, plan.MaxPlanBytes)
			if err != nil || ps.Validate(v) != nil {
				return false
			}
		}
	}
	return true
}

// fnWith finds, in apps passing keep, the function called name whose input
// has every parameter listed.
func fnWith(catalog []plan.AppEntry, keep func(plan.AppEntry) bool, name string, params ...string) (plan.AppEntry, plan.FunctionEntry, bool) {
	for _, a := range catalog {
		if !keep(a) {
			continue
		}
		fn, ok := function(a, name)
		if !ok {
			continue
		}
		props, _ := fn.Input["properties"].(map[string]any)
		all := true
		for _, p := range params {
			if _, ok := props[p]; !ok {
				all = false
			}
		}
		if all {
			return a, fn, true
		}
	}
	return plan.AppEntry{}, plan.FunctionEntry{}, false
}

func anyApp(plan.AppEntry) bool { return true }

func (b *builder) composeMail(catalog []plan.AppEntry) bool {
	verb := "send"
	if b.f.has("draft") && !b.f.has("send") {
		verb = "draft"
	}
	mailer, send, ok := fnWith(catalog, anyApp, verb, "to", "message")
	if !ok {
		return false
	}
	text := emailRE.ReplaceAllString(b.query, " ")
	var steps []plan.Step
	var answer []string
	args := map[string]json.RawMessage{}

	// The recipient: an address written out, or a name the mailer's own
	// contact lookup turns into one.
	switch {
	case len(b.f.emails) > 0:
		args["to"] = mustRaw(b.f.emails[0])
	default:
		m := recipientRE.FindStringSubmatch(text)
		if m == nil {
			return false
		}
		_, lookup, ok := fnWith(catalog, func(a plan.AppEntry) bool { return a.App == mailer.App }, "find_contact", "name")
		if !ok || !outputHas(lookup, "email") {
			return false
		}
		id := b.id("c")
		steps = append(steps, plan.Step{ID: id, App: mailer.App, Function: lookup.Name, Args: map[string]json.RawMessage{"name": mustRaw(m[1])}})
		args["to"] = ref(id + ".email")
		answer = append(answer, fmt.Sprintf("%s is {{%s.email}} (from %s's contacts).", m[1], id, mailer.App))
	}

	// The attachment: a file name, fetched by another app whose result
	// fits the mailer's attachment parameter.
	file := ""
	if m := fileRE.FindStringSubmatch(text); m != nil && (b.f.has("attach") || b.f.has("attachment") || b.f.words["with"]) {
		file = m[1]
		src, retrieve, ok := b.fileSource(catalog, mailer, send)
		if !ok {
			return false
		}
		id := b.id("d")
		steps = append(steps, plan.Step{ID: id, App: src.App, Function: retrieve.Name, Args: map[string]json.RawMessage{"query": mustRaw(file)}})
		args["attachment"] = ref(id)
		answer = append(answer, fmt.Sprintf("%s %s gave {{%s.name}} ({{%s.size}} bytes).", src.App, words(retrieve.Name), id, id))
	}

	subject, body := "", ""
	if m := subjectRE.FindStringSubmatch(b.query); m != nil {
		subject = m[1]
	}
	if m := bodyRE.FindStringSubmatch(b.query); m != nil {
		body = m[1]
	}
	if subject == "" && file != "" {
		subject = file
	}
	if body == "" {
		if file == "" {
			return false // nothing to say: the offline model writes no prose
		}
		body = "Please find " + file + " attached."
	}
	args["subject"] = mustRaw(subject)
	args["message"] = mustRaw(body)
	id := b.id("s")
	steps = append(steps, plan.Step{ID: id, App: mailer.App, Function: send.Name, Args: args})
	if verb == "draft" {
		answer = append(answer, fmt.Sprintf("%s drafted message {{%s.id}}.", mailer.App, id))
	} else {
		answer = append(answer, fmt.Sprintf("%s sent message {{%s.id}} to {{%s.to}}, attached: {{%s.attachments}}.", mailer.App, id, id, id))
	}
	b.p.Steps = append(b.p.Steps, steps...)
	b.answer = append(b.answer, answer...)
	return true
}

// fileSource finds another app with a read function taking a query whose
// whole result fits the mailer's attachment parameter. An app the query
// names ("from drive") is preferred.
func (b *builder) fileSource(catalog []plan.AppEntry, mailer plan.AppEntry, send plan.FunctionEntry) (plan.AppEntry, plan.FunctionEntry, bool) {
	in, err := compileMap(send.Input)
	if err != nil {
		return plan.AppEntry{}, plan.FunctionEntry{}, false
	}
	param, ok := in.Property("attachment")
	if !ok {
		return plan.AppEntry{}, plan.FunctionEntry{}, false
	}
	var found []struct {
		a  plan.AppEntry
		fn plan.FunctionEntry
	}
	for _, a := range catalog {
		if a.App == mailer.App {
			continue
		}
		for _, fn := range a.Functions {
			if fn.Effect == "write" {
				continue
			}
			if props, _ := fn.Input["properties"].(map[string]any); props["query"] == nil {
				continue
			}
			out, err := compileMap(fn.Output)
			if err != nil || !schema.Assignable(out, param) {
				continue
			}
			found = append(found, struct {
				a  plan.AppEntry
				fn plan.FunctionEntry
			}{a, fn})
		}
	}
	for _, c := range found {
		if b.f.mentions(c.a.App) != mentionNone {
			return c.a, c.fn, true
		}
	}
	if len(found) == 1 {
		return found[0].a, found[0].fn, true
	}
	return plan.AppEntry{}, plan.FunctionEntry{}, false
}

// newestMail plans "summarize the newest email": search for one message,
// then read it by the id the search returned.
func (b *builder) newestMail(catalog []plan.AppEntry) bool {
	mailer, search, ok := fnWith(catalog, anyApp, "search", "max_results")
	if !ok {
		return false
	}
	_, read, ok := fnWith(catalog, func(a plan.AppEntry) bool { return a.App == mailer.App }, "read", "id")
	if !ok {
		return false
	}
	args := map[string]json.RawMessage{"max_results": mustRaw(1)}
	// "The newest email" is the newest one received, unless the query
	// says sent or drafted.
	where := "mailbox"
	if _, ok := search.Input["properties"].(map[string]any)["folder"]; ok {
		where = "inbox"
		switch {
		case b.f.has("sent"):
			where = "sent"
		case b.f.has("draft"):
			where = "drafts"
		}
		args["folder"] = mustRaw(where)
	}
	s := b.id("s")
	r := b.id("r")
	b.p.Steps = append(b.p.Steps,
		plan.Step{ID: s, App: mailer.App, Function: search.Name, Args: args},
		plan.Step{ID: r, App: mailer.App, Function: read.Name, Args: map[string]json.RawMessage{"id": ref(s + ".messages.0.id")}},
	)
	b.answer = append(b.answer,
		fmt.Sprintf("The newest of {{%s.count}} messages in %s's %s, from {{%s.from}} on {{%s.date}}, subject “{{%s.subject}}”:", s, mailer.App, where, r, r, r),
		fmt.Sprintf("{{%s.body}}", r),
		"(The "+Label+" quotes the message; it does not summarise.)")
	return true
}

// searchMail plans "find emails about X".
func (b *builder) searchMail(catalog []plan.AppEntry) bool {
	mailer, search, ok := fnWith(catalog, anyApp, "search", "query")
	if !ok {
		return false
	}
	q := ""
	if m := aboutRE.FindStringSubmatch(b.query); m != nil {
		q = strings.TrimSpace(m[1])
	} else if len(b.f.quoted) > 0 {
		q = b.f.quoted[0]
	}
	if q == "" || len(q) > 200 {
		return false
	}
	id := b.id("s")
	b.p.Steps = append(b.p.Steps, plan.Step{ID: id, App: mailer.App, Function: search.Name, Args: map[string]json.RawMessage{"query": mustRaw(q)}})
	b.answer = append(b.answer, fmt.Sprintf("%s found {{%s.count}} messages matching %q: {{%s.messages}}", mailer.App, id, q, id))
	return true
}

func outputHas(fn plan.FunctionEntry, field string) bool {
	props, _ := fn.Output["properties"].(map[string]any)
	_, ok := props[field]
	return ok
}

func compileMap(m map[string]any) (*schema.Schema, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return schema.Compile(raw)
}

func mustRaw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func ref(path string) json.RawMessage {
	return mustRaw(map[string]string{"$ref": path})
}
