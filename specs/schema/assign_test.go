package schema

import "testing"

func TestAssignable(t *testing.T) {
	tests := []struct {
		name     string
		from, to string
		want     bool
	}{
		{"same type", `{"type":"string"}`, `{"type":"string"}`, true},
		{"integer to number", `{"type":"integer"}`, `{"type":"number"}`, true},
		{"number to integer", `{"type":"number"}`, `{"type":"integer"}`, false},
		{"number to string", `{"type":"number"}`, `{"type":"string"}`, false},
		{"string to nullable string", `{"type":"string"}`, `{"type":["string","null"]}`, true},
		{"nullable string to string", `{"type":["string","null"]}`, `{"type":"string"}`, false},
		{"constraints ignored", `{"type":"string","maxLength":500}`, `{"type":"string","maxLength":5,"format":"email"}`, true},
		{"array items", `{"type":"array","items":{"type":"integer"}}`, `{"type":"array","items":{"type":"number"}}`, true},
		{"array items mismatch", `{"type":"array","items":{"type":"number"}}`, `{"type":"array","items":{"type":"string"}}`, false},
		{"object same", `{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}`,
			`{"type":"object","properties":{"a":{"type":"number"}},"required":["a"]}`, true},
		{"object required missing in from", `{"type":"object","properties":{"a":{"type":"integer"}}}`,
			`{"type":"object","properties":{"a":{"type":"number"}},"required":["a"]}`, false},
		{"object required absent from from", `{"type":"object","properties":{}}`,
			`{"type":"object","properties":{"a":{"type":"number"}},"required":["a"]}`, false},
		{"object property type mismatch", `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`,
			`{"type":"object","properties":{"a":{"type":"number"}},"required":["a"]}`, false},
		{"optional property type mismatch", `{"type":"object","properties":{"a":{"type":"string"}}}`,
			`{"type":"object","properties":{"a":{"type":"number"}}}`, false},
		{"extra property into closed object", `{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"string"}},"required":["a"]}`,
			`{"type":"object","properties":{"a":{"type":"number"}},"required":["a"]}`, false},
		{"extra property into open object", `{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"string"}},"required":["a"]}`,
			`{"type":"object","properties":{"a":{"type":"number"}},"required":["a"],"additionalProperties":true}`, true},
		{"open into closed", `{"type":"object","additionalProperties":true}`, `{"type":"object"}`, false},
		{"nested object", `{"type":"object","properties":{"o":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]}},"required":["o"]}`,
			`{"type":"object","properties":{"o":{"type":"object","properties":{"x":{"type":"number"}},"required":["x"]}},"required":["o"]}`, true},
		{"nested object mismatch", `{"type":"object","properties":{"o":{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]}},"required":["o"]}`,
			`{"type":"object","properties":{"o":{"type":"object","properties":{"x":{"type":"number"}},"required":["x"]}},"required":["o"]}`, false},
		{"object to string", `{"type":"object"}`, `{"type":"string"}`, false},
		{"null to nullable", `{"type":"null"}`, `{"type":["object","null"]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to := mustCompile(t, tt.from), mustCompile(t, tt.to)
			if got := Assignable(from, to); got != tt.want {
				t.Errorf("Assignable = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("nil", func(t *testing.T) {
		s := mustCompile(t, `{"type":"string"}`)
		if Assignable(nil, s) || Assignable(s, nil) {
			t.Error("nil schema assignable")
		}
	})
}
