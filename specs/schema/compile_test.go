package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func mustCompile(t testing.TB, src string) *Schema {
	t.Helper()
	s, err := Compile(json.RawMessage(src))
	if err != nil {
		t.Fatalf("Compile(%s): %v", src, err)
	}
	return s
}

// nested returns an object schema with depth levels of schemas below it.
func nested(depth int) string {
	s := `{"type":"string"}`
	for range depth {
		s = `{"type":"object","properties":{"a":` + s + `}}`
	}
	return s
}

func manyProps(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf(`"p%d":{"type":"string"}`, i))
	}
	return `{"type":"object","properties":{` + strings.Join(parts, ",") + `}}`
}

func manyEnum(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf(`"v%d"`, i))
	}
	return `{"type":"string","enum":[` + strings.Join(parts, ",") + `]}`
}

func TestCompileAccepts(t *testing.T) {
	tests := []struct {
		name   string
		schema string
	}{
		{"string", `{"type":"string"}`},
		{"every keyword", `{"type":"object","title":"T","description":"D","default":{},
			"properties":{
				"s":{"type":"string","minLength":1,"maxLength":5,"format":"email"},
				"d":{"type":"string","format":"date"},
				"n":{"type":"number","minimum":-1.5,"maximum":1e3},
				"i":{"type":"integer","minimum":0,"maximum":10},
				"b":{"type":"boolean","default":true},
				"z":{"type":"null"},
				"e":{"type":["string","null"],"enum":["a b","x.y-z_1",null]},
				"a":{"type":"array","items":{"type":"integer"},"minItems":0,"maxItems":3}},
			"required":["s","n"],"additionalProperties":false}`},
		{"type list", `{"type":["number","null"]}`},
		{"integer enum", `{"type":"integer","enum":[1,2,3]}`},
		{"open object", `{"type":"object","additionalProperties":true}`},
		{"depth 8", nested(MaxDepth)},
		{"64 properties", manyProps(MaxProperties)},
		{"64 enum values", manyEnum(MaxEnum)},
		{"longest name", `{"type":"object","properties":{"` + "a" + strings.Repeat("b", 39) + `":{"type":"string"}}}`},
		{"longest description", `{"type":"string","description":"` + strings.Repeat("é", MaxDescription) + `"}`},
		{"minimum on integer", `{"type":"integer","minimum":1}`},
		{"equal bounds", `{"type":"string","minLength":2,"maxLength":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Compile(json.RawMessage(tt.schema)); err != nil {
				t.Fatalf("Compile: %v", err)
			}
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		want   error
		text   string // must appear in the error
	}{
		{"not an object", `["type"]`, ErrSchema, "must be an object"},
		{"missing type", `{"description":"x"}`, ErrSchema, "type is required"},
		{"unknown type", `{"type":"float"}`, ErrSchema, `unknown type "float"`},
		{"empty type list", `{"type":[]}`, ErrSchema, "empty list"},
		{"duplicate type", `{"type":["string","string"]}`, ErrSchema, "listed twice"},
		{"type not a string", `{"type":1}`, ErrSchema, "type"},
		{"oneOf", `{"type":"string","oneOf":[]}`, ErrUnsupportedKeyword, `"oneOf"`},
		{"$ref", `{"type":"object","properties":{"a":{"$ref":"#"}}}`, ErrUnsupportedKeyword, `"$ref"`},
		{"pattern", `{"type":"string","pattern":".*"}`, ErrUnsupportedKeyword, `"pattern"`},
		{"$schema", `{"$schema":"x","type":"string"}`, ErrUnsupportedKeyword, `"$schema"`},
		{"const", `{"type":"string","const":"a"}`, ErrUnsupportedKeyword, `"const"`},
		{"patternProperties", `{"type":"object","patternProperties":{}}`, ErrUnsupportedKeyword, `"patternProperties"`},
		{"nested unknown keyword path", `{"type":"object","properties":{"a":{"type":"array","items":{"type":"string","allOf":[]}}}}`, ErrUnsupportedKeyword, "#/properties/a/items"},
		{"upper-case property", `{"type":"object","properties":{"Fare":{"type":"number"}}}`, ErrSchema, `"Fare"`},
		{"property starts with digit", `{"type":"object","properties":{"1a":{"type":"number"}}}`, ErrSchema, "does not match"},
		{"property with dash", `{"type":"object","properties":{"a-b":{"type":"number"}}}`, ErrSchema, "does not match"},
		{"property too long", `{"type":"object","properties":{"` + strings.Repeat("a", 41) + `":{"type":"number"}}}`, ErrSchema, "does not match"},
		{"depth 9", nested(MaxDepth + 1), ErrSchema, "nested more than 8"},
		{"65 properties", manyProps(MaxProperties + 1), ErrSchema, "65 properties"},
		{"65 enum values", manyEnum(MaxEnum + 1), ErrSchema, "65 values"},
		{"empty enum", `{"type":"string","enum":[]}`, ErrSchema, "empty"},
		{"enum string too long", `{"type":"string","enum":["` + strings.Repeat("a", MaxEnumString+1) + `"]}`, ErrSchema, "at most 64"},
		{"enum string bad character", `{"type":"string","enum":["a;b"]}`, ErrSchema, "enum"},
		{"enum object", `{"type":"object","enum":[{}]}`, ErrSchema, "only strings"},
		{"enum of wrong type", `{"type":"string","enum":[1]}`, ErrSchema, "expected string, got number"},
		{"enum fraction for integer", `{"type":"integer","enum":[1.5]}`, ErrSchema, "expected integer"},
		{"enum repeats by value", `{"type":"number","enum":[1,1.0]}`, ErrSchema, "repeats"},
		{"description too long", `{"type":"string","description":"` + strings.Repeat("a", MaxDescription+1) + `"}`, ErrSchema, "limit 1024"},
		{"description not a string", `{"type":"string","description":1}`, ErrSchema, "description"},
		{"title too long", `{"type":"string","title":"` + strings.Repeat("a", MaxDescription+1) + `"}`, ErrSchema, "title"},
		{"required undeclared", `{"type":"object","properties":{"a":{"type":"string"}},"required":["b"]}`, ErrSchema, `"b" is not declared`},
		{"required twice", `{"type":"object","properties":{"a":{"type":"string"}},"required":["a","a"]}`, ErrSchema, "twice"},
		{"required not a list", `{"type":"object","properties":{"a":{"type":"string"}},"required":"a"}`, ErrSchema, "list of strings"},
		{"additionalProperties schema", `{"type":"object","additionalProperties":{"type":"string"}}`, ErrSchema, "true or false"},
		{"properties not an object", `{"type":"object","properties":[]}`, ErrSchema, "properties must be an object"},
		{"array without items", `{"type":"array"}`, ErrSchema, "items"},
		{"items not a schema", `{"type":"array","items":true}`, ErrSchema, "#/items"},
		{"minLength on number", `{"type":"number","minLength":1}`, ErrSchema, "minLength needs type string"},
		{"minimum on string", `{"type":"string","minimum":1}`, ErrSchema, "minimum needs type number"},
		{"properties on string", `{"type":"string","properties":{}}`, ErrSchema, "properties needs type object"},
		{"items on object", `{"type":"object","items":{"type":"string"}}`, ErrSchema, "items needs type array"},
		{"negative minLength", `{"type":"string","minLength":-1}`, ErrSchema, "between 0"},
		{"fractional maxLength", `{"type":"string","maxLength":1.5}`, ErrSchema, "integer"},
		{"minLength above maxLength", `{"type":"string","minLength":3,"maxLength":2}`, ErrSchema, "greater than maxLength"},
		{"minItems above maxItems", `{"type":"array","items":{"type":"null"},"minItems":3,"maxItems":2}`, ErrSchema, "greater than maxItems"},
		{"minimum above maximum", `{"type":"number","minimum":1.01,"maximum":1}`, ErrSchema, "greater than maximum"},
		{"minimum not a number", `{"type":"number","minimum":"1"}`, ErrSchema, "must be a number"},
		{"minimum out of range", `{"type":"number","minimum":1e999}`, ErrSchema, "out of range"},
		{"unknown format", `{"type":"string","format":"uri"}`, ErrSchema, "format"},
		{"duplicate key", `{"type":"string","type":"object"}`, ErrDuplicateKey, `"type"`},
		{"trailing data", `{"type":"string"} {}`, ErrTrailingData, ""},
		{"not JSON", `{type:string}`, ErrSyntax, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile(json.RawMessage(tt.schema))
			if err == nil {
				t.Fatalf("Compile accepted %s: %v", tt.schema, s.Public())
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %q is not %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
		})
	}
}

func TestCompileRefusesOversize(t *testing.T) {
	big := `{"type":"string","default":"` + strings.Repeat("a", MaxSchemaBytes) + `"}`
	if _, err := Compile(json.RawMessage(big)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Compile of %d bytes: %v, want ErrTooLarge", len(big), err)
	}
}

func TestAccessors(t *testing.T) {
	s := mustCompile(t, `{"type":"object","description":"an app's words","title":"Ride",
		"properties":{
			"zeta":{"type":["null","string"],"format":"date"},
			"alpha":{"type":"array","items":{"type":"integer"}},
			"mid":{"type":"string","enum":["a","b"]}},
		"required":["zeta","alpha"]}`)
	tests := []struct {
		name      string
		got, want any
	}{
		{"types", s.Types(), []string{"object"}},
		{"is object", s.Is("object"), true},
		{"is not array", s.Is("array"), false},
		{"property names sorted", s.PropertyNames(), []string{"alpha", "mid", "zeta"}},
		{"required sorted", s.Required(), []string{"alpha", "zeta"}},
		{"is required", s.IsRequired("zeta"), true},
		{"not required", s.IsRequired("mid"), false},
		{"description", s.Description(), "an app's words"},
		{"title", s.Title(), "Ride"},
		{"closed by default", s.AdditionalProperties(), false},
		{"no items", s.Items() == nil, true},
		{"type order fixed", prop(t, s, "zeta").Types(), []string{"string", "null"}},
		{"format", prop(t, s, "zeta").Format(), "date"},
		{"items", prop(t, s, "alpha").Items().Types(), []string{"integer"}},
		{"enum", prop(t, s, "mid").Enum(), []any{"a", "b"}},
		{"no enum", prop(t, s, "zeta").Enum(), []any(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
	t.Run("unknown property", func(t *testing.T) {
		if _, ok := s.Property("nope"); ok {
			t.Error("Property(nope) found")
		}
	})
	t.Run("copies", func(t *testing.T) {
		s.Types()[0] = "array"
		s.Required()[0] = "x"
		if !s.Is("object") || s.Required()[0] != "alpha" {
			t.Error("accessor results alias the schema")
		}
	})
}

func prop(t *testing.T, s *Schema, name string) *Schema {
	t.Helper()
	p, ok := s.Property(name)
	if !ok {
		t.Fatalf("no property %q", name)
	}
	return p
}

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"a", true},
		{"estimate_fare", true},
		{"a1_", true},
		{"a" + strings.Repeat("b", 39), true},
		{"a" + strings.Repeat("b", 40), false},
		{"", false},
		{"_a", false},
		{"1a", false},
		{"A", false},
		{"a-b", false},
		{"a.b", false},
		{"é", false},
		{"a\n", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.name), func(t *testing.T) {
			if got := ValidName(tt.name); got != tt.want {
				t.Errorf("ValidName(%q) = %v", tt.name, got)
			}
		})
	}
}

func TestSafeText(t *testing.T) {
	tests := []struct {
		name, text string
		want       bool
	}{
		{"plain", "metro_hail offers reliable rides.", true},
		{"tab and newline", "a\tb\nc", true},
		{"accents and emoji", "café ☕", true},
		{"escape sequence", "\x1b[2J", false},
		{"carriage return", "shown\rhidden", false},
		{"NUL", "a\x00b", false},
		{"DEL", "a\x7fb", false},
		{"C1 control", "a\u009bb", false},
		{"right-to-left override", "a\u202eb", false},
		{"isolate", "a\u2067b", false},
		{"right-to-left mark", "a\u200fb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SafeText(tt.text); got != tt.want {
				t.Errorf("SafeText(%q) = %v", tt.text, got)
			}
		})
	}
	if _, err := Compile(json.RawMessage(`{"type":"string","description":"a\u001b[31mb"}`)); !errors.Is(err, ErrSchema) {
		t.Errorf("Compile accepted an escape sequence in a description: %v", err)
	}
}
