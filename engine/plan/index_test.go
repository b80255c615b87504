package plan

import (
	"errors"
	"strings"
	"testing"
)

// newestMail reads the first message a search returned: an index into an
// array result.
const newestMail = `{"steps": [
 {"id": "s1", "app": "mail", "function": "search", "args": {"max_results": 1}},
 {"id": "s2", "app": "mail", "function": "read", "args": {"id": {"$ref": "s1.messages.0.id"}}}],
 "answer": "{{s1.messages.0.subject}}: {{s2.body}}"}`

func TestIndexesIntoArrays(t *testing.T) {
	c := testCatalog(t)
	p, err := Parse([]byte(newestMail))
	if err != nil {
		t.Fatal(err)
	}
	g, err := Validate(p, c)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	n, _ := g.Node("s2")
	if ref := n.Args["id"].Ref; ref == nil || ref.String() != "s1.messages.0.id" || strings.Join(n.Deps, ",") != "s1" {
		t.Errorf("s2: ref %v, deps %v", ref, n.Deps)
	}
	if got := g.Template[0].Ref; got == nil || got.String() != "s1.messages.0.subject" {
		t.Errorf("template ref %v", got)
	}
}

func TestIndexesAreChecked(t *testing.T) {
	c := testCatalog(t)
	read := func(ref string) string {
		return `{"steps": [
		 {"id": "s1", "app": "mail", "function": "search", "args": {}},
		 {"id": "s2", "app": "mail", "function": "read", "args": {"id": {"$ref": "` + ref + `"}}}], "answer": ""}`
	}
	tests := []struct{ name, plan, want string }{
		{"index into an object", read("s1.0"), `has no field "0"`},
		{"index into a number", read("s1.count.0"), `has no field "count.0"`},
		{"field of an array", read("s1.messages.id"), `has no field "messages.id"`},
		{"leading zero", read("s1.messages.01.id"), "not step or step.field"},
		{"too large", read("s1.messages.1000.id"), "not step or step.field"},
		{"negative", read("s1.messages.-1.id"), "not step or step.field"},
		{"an index for a step", read("0.messages"), "not step or step.field"},
		{"item of the wrong type", read("s1.messages.0"), "does not fit parameter"},
		{"template index into an object", `{"steps": [{"id": "s1", "app": "mail", "function": "search", "args": {}}], "answer": "{{s1.0}}"}`, `placeholder {{s1.0}}`},
		{"operator field through an array", `{"steps": [
		 {"id": "a", "app": "mail", "function": "search", "args": {}},
		 {"id": "b", "app": "mail", "function": "search", "args": {}},
		 {"id": "c", "op": "min", "of": ["a", "b"], "field": "messages.0"}], "answer": ""}`, "is not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.plan))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Validate(p, c)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an invalid plan mentioning %q", err, tt.want)
			}
		})
	}
}

func TestIndex(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{{"0", 0, true}, {"7", 7, true}, {"999", 999, true}, {"1000", 0, false}, {"01", 0, false}, {"-1", 0, false}, {"a", 0, false}, {"", 0, false}, {"٣", 0, false}}
	for _, tt := range tests {
		if got, ok := Index(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("Index(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
