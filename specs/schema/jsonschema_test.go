package schema

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func mustJSON(t *testing.T, raw string, aliases map[string]string) *Schema {
	t.Helper()
	s, err := CompileJSONSchema(json.RawMessage(raw), aliases)
	if err != nil {
		t.Fatalf("compile %s: %v", raw, err)
	}
	return s
}

func decode(t *testing.T, raw string) any {
	t.Helper()
	v, err := Decode([]byte(raw), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestJSONSchemaKeywordsServersUse: every keyword real servers send is
// applied by the validator, and the view the planner reads shows only
// identifiers and the subset's constraints.
func TestJSONSchemaKeywordsServersUse(t *testing.T) {
	s := mustJSON(t, `{
	  "$schema": "http://json-schema.org/draft-07/schema#",
	  "type": "object",
	  "properties": {
	    "value": {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "number"}]},
	    "kind": {"oneOf": [{"const": "a"}, {"const": "b"}]},
	    "url": {"type": "string", "format": "uri"},
	    "ref": {"type": "string", "pattern": "^[a-z]+/[a-z]+$"},
	    "tags": {"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}, "additionalProperties": {"type": "integer"}},
	    "mime": {"type": "string", "enum": ["text/plain", "application/json"]},
	    "branchFrom": {"type": "integer", "minimum": 1}
	  },
	  "required": ["value", "branchFrom"]
	}`, map[string]string{"branchFrom": "branch_from"})
	pub, _ := json.Marshal(s.Public())
	for _, hidden := range []string{"branchFrom", "pattern", "propertyNames", "uri", "$schema", "anyOf"} {
		if strings.Contains(string(pub), hidden) {
			t.Errorf("the planner's view shows %q: %s", hidden, pub)
		}
	}
	if !strings.Contains(string(pub), `"enum":["text/plain","application/json"]`) || !strings.Contains(string(pub), `"branch_from"`) {
		t.Errorf("view lost the enum or the alias: %s", pub)
	}
	if got := s.Required(); strings.Join(got, ",") != "branch_from,value" {
		t.Errorf("required %v", got)
	}
	for _, tc := range []struct {
		value string
		ok    bool
		where string
	}{
		{`{"value": "abc", "branch_from": 1}`, true, ""},
		{`{"value": 3.5, "branch_from": 2, "kind": "b", "url": "https://example.com/x", "ref": "a/b", "tags": {"x": 1}, "mime": "text/plain"}`, true, ""},
		{`{"value": "too long", "branch_from": 1}`, false, "$.value"},
		{`{"value": true, "branch_from": 1}`, false, "$.value"},
		{`{"value": 1, "branch_from": 0}`, false, "$.branchFrom"},
		{`{"value": 1, "branch_from": 1, "kind": "c"}`, false, "$.kind"},
		{`{"value": 1, "branch_from": 1, "url": "not a uri"}`, false, "$.url"},
		{`{"value": 1, "branch_from": 1, "ref": "A/B"}`, false, "$.ref"},
		{`{"value": 1, "branch_from": 1, "tags": {"X": 1}}`, false, ""},
		{`{"value": 1, "branch_from": 1, "tags": {"x": "1"}}`, false, "$.tags.x"},
		{`{"value": 1}`, false, "$"},
		{`{"value": 1, "branch_from": 1, "branchFrom": 1}`, false, "$"},
	} {
		err := s.Validate(decode(t, tc.value))
		if tc.ok != (err == nil) {
			t.Errorf("%s: %v, want ok %v", tc.value, err, tc.ok)
			continue
		}
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) || (tc.where != "" && ve.Path != tc.where) {
				t.Errorf("%s: %v, want a ValidationError at %s", tc.value, err, tc.where)
			}
			if strings.Contains(err.Error(), "too long") || strings.Contains(err.Error(), "not a uri") {
				t.Errorf("the error quotes the value: %v", err)
			}
		}
	}
	// Open by default, as JSON Schema says: undeclared keys pass.
	if err := s.Validate(decode(t, `{"value": 1, "branch_from": 1, "extra": {"any": "thing"}}`)); err != nil {
		t.Errorf("open object refused an extra key: %v", err)
	}
}

func TestJSONSchemaAliasesRename(t *testing.T) {
	s := mustJSON(t, `{"type":"object","properties":{"outer":{"type":"array","items":{"type":"object","properties":{"innerName":{"type":"string"}}}}, "plain":{"type":"string"}}}`,
		map[string]string{"innerName": "inner_name"})
	in := decode(t, `{"outer":[{"inner_name":"x","other":1}],"plain":"p"}`)
	real, err := s.ToReal(in)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(real)
	if string(b) != `{"outer":[{"innerName":"x","other":1}],"plain":"p"}` {
		t.Errorf("ToReal = %s", b)
	}
	back, err := s.FromReal(real)
	if err != nil {
		t.Fatal(err)
	}
	if b2, _ := json.Marshal(back); string(b2) != `{"outer":[{"inner_name":"x","other":1}],"plain":"p"}` {
		t.Errorf("FromReal = %s", b2)
	}
	if _, err := s.FromReal(decode(t, `{"outer":[{"innerName":"x","inner_name":"y"}]}`)); err == nil {
		t.Error("two keys that become one were accepted")
	}
}

func TestJSONSchemaRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		aliases   map[string]string
		want      string
	}{
		{"remote ref", `{"type":"object","properties":{"a":{"$ref":"https://example.com/s.json"}}}`, nil, "never loaded"},
		{"file ref", `{"type":"object","properties":{"a":{"$ref":"file:///etc/passwd"}}}`, nil, "never loaded"},
		{"name without alias", `{"type":"object","properties":{"get-sum":{"type":"number"}}}`, nil, "needs an alias"},
		{"bad alias", `{"type":"object","properties":{"a":{"type":"number"}}}`, map[string]string{"a": "A"}, "alias"},
		{"two names one alias", `{"type":"object","properties":{"aB":{"type":"number"},"a_b":{"type":"string"}}}`, map[string]string{"aB": "a_b"}, "alias a_b"},
		{"control characters", `{"type":"object","description":"x\u001b[2J"}`, nil, "control"},
		{"not a schema", `[1]`, nil, "metaschema"},
		{"self-references unfolding", `{"type":"object","properties":{` + strings.Repeat(`"a":{"$ref":"#"},`, 0) + selfRefs(40) + `}}`, nil, "references are followed"},
		{"bad pattern", `{"type":"object","properties":{"a":{"type":"string","pattern":"(?=x)"}}}`, nil, "invalid schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileJSONSchema(json.RawMessage(tc.raw), tc.aliases)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one with %q", err, tc.want)
			}
		})
	}
	// Internal references are followed.
	s := mustJSON(t, `{"type":"object","$defs":{"n":{"type":"integer"}},"properties":{"a":{"$ref":"#/$defs/n"}}}`, nil)
	if p, _ := s.Property("a"); p == nil || !p.Is(TypeInteger) {
		t.Errorf("internal $ref not viewed")
	}
	if err := s.Validate(decode(t, `{"a":"x"}`)); err == nil {
		t.Error("internal $ref not validated")
	}
}

func TestPrepare(t *testing.T) {
	out, dropped, err := Prepare(json.RawMessage(`{"$schema":"https://example.com/my-draft","type":"object","properties":{"a":{"type":"string","pattern":"(?!x)"},"b":{"type":"string","pattern":"^ok$"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(dropped, ";") != "$schema at #;pattern at #/properties/a" {
		t.Errorf("dropped %v", dropped)
	}
	if !strings.Contains(string(out), `"pattern":"^ok$"`) || strings.Contains(string(out), "(?!x)") {
		t.Errorf("prepared %s", out)
	}
	if _, err := CompileJSONSchema(out, nil); err != nil {
		t.Errorf("prepared schema does not compile: %v", err)
	}
}

// FuzzCompileJSONSchema: a server's schema, whatever it is, compiles or
// is refused, never panics; a compiled one validates and renames any
// value without panicking, and its view re-renders.
func FuzzCompileJSONSchema(f *testing.F) {
	for _, s := range []string{
		`{"type":"object","properties":{"a":{"anyOf":[{"type":"string"},{"type":"null"}]}}}`,
		`{"type":"object","properties":{"xY":{"type":"array","items":{"$ref":"#"}}},"required":["xY"]}`,
		`{"type":"object","additionalProperties":{"type":"object","properties":{"k":{"enum":["a/b",1,null]}}}}`,
		`{"properties":{"a":{"oneOf":[{"type":"object","properties":{"b":{"const":1}}},{"type":"array"}]}}}`,
		`true`, `{"$ref":"#/$defs/x","$defs":{"x":{"$ref":"#/$defs/x"}}}`,
	} {
		f.Add([]byte(s), []byte(`{"a":null,"xY":[1],"x_y":[{}]}`))
	}
	f.Fuzz(func(t *testing.T, raw, value []byte) {
		s, err := CompileJSONSchema(raw, map[string]string{"xY": "x_y"})
		if err != nil {
			return
		}
		_, _ = json.Marshal(s.Public())
		_ = s.Document()
		v, err := Decode(value, 1<<16)
		if err != nil {
			return
		}
		_ = s.Validate(v)
		if r, err := s.ToReal(v); err == nil {
			_, _ = s.FromReal(r)
		}
	})
}

// selfRefs declares n properties that each refer back to the root.
func selfRefs(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `"p` + strings.Repeat("x", i) + `":{"$ref":"#"}`
	}
	return strings.Join(parts, ",")
}
