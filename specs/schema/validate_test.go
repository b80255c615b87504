package schema

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	const ride = `{"type":"object","properties":{
		"fare":{"type":"number","minimum":0,"maximum":1000},
		"seats":{"type":"integer","minimum":1,"maximum":6},
		"currency":{"type":"string","enum":["USD","EUR"]},
		"note":{"type":["string","null"],"maxLength":5},
		"name":{"type":"string","minLength":2},
		"email":{"type":"string","format":"email"},
		"day":{"type":"string","format":"date"},
		"ok":{"type":"boolean"},
		"stops":{"type":"array","items":{"type":"object","properties":{"at":{"type":"string"}},"required":["at"]},"minItems":1,"maxItems":2},
		"extra":{"type":"object","additionalProperties":true},
		"level":{"type":"number","enum":[1,2.5]}},
		"required":["fare","currency"]}`
	s := mustCompile(t, ride)
	tests := []struct {
		name  string
		value string
		want  string // "" means valid; otherwise the exact error text
	}{
		{"minimal", `{"fare":12.5,"currency":"USD"}`, ""},
		{"everything", `{"fare":0,"seats":6,"currency":"EUR","note":null,"name":"Al","email":"a.b+c@example.co.uk","day":"2024-02-29","ok":false,"stops":[{"at":"x"}],"extra":{"anything":[1,{"b":null}]},"level":2.50}`, ""},
		{"fare as string", `{"fare":"12","currency":"USD"}`, "$.fare: expected number, got string"},
		{"missing required", `{"currency":"USD"}`, "$.fare: required property missing"},
		{"unknown property", `{"fare":1,"currency":"USD","tip":5}`, `$: unexpected property "tip"`},
		{"not an object", `[]`, "$: expected object, got array"},
		{"null root", `null`, "$: expected object, got null"},
		{"integer field takes integer", `{"fare":1,"currency":"USD","seats":3}`, ""},
		{"integer refuses fraction", `{"fare":1,"currency":"USD","seats":3.5}`, "$.seats: expected integer, got number"},
		{"integer refuses 1.0", `{"fare":1,"currency":"USD","seats":1.0}`, "$.seats: expected integer, got number"},
		{"integer refuses exponent", `{"fare":1,"currency":"USD","seats":1e0}`, "$.seats: expected integer, got number"},
		{"integer refuses beyond int64", `{"fare":1,"currency":"USD","seats":9223372036854775808}`, "$.seats: expected integer, got number"},
		{"number out of range", `{"fare":1e400,"currency":"USD"}`, "$.fare: number out of range"},
		{"below minimum", `{"fare":-0.01,"currency":"USD"}`, "$.fare: less than minimum 0"},
		{"at maximum", `{"fare":1000,"currency":"USD"}`, ""},
		{"above maximum by a hair", `{"fare":1000.0000000000000000001,"currency":"USD"}`, "$.fare: more than maximum 1000"},
		{"maximum spelled with exponent", `{"fare":1e3,"currency":"USD"}`, ""},
		{"enum miss", `{"fare":1,"currency":"usd"}`, "$.currency: not one of the allowed values"},
		{"number enum by value", `{"fare":1,"currency":"USD","level":1.0}`, ""},
		{"number enum miss", `{"fare":1,"currency":"USD","level":2}`, "$.level: not one of the allowed values"},
		{"nullable takes null", `{"fare":1,"currency":"USD","note":null}`, ""},
		{"nullable refuses number", `{"fare":1,"currency":"USD","note":1}`, "$.note: expected string or null, got number"},
		{"maxLength counts runes", `{"fare":1,"currency":"USD","note":"héllo"}`, ""},
		{"maxLength exceeded", `{"fare":1,"currency":"USD","note":"hello!"}`, "$.note: length 6 is more than maxLength 5"},
		{"minLength counts runes", `{"fare":1,"currency":"USD","name":"é"}`, "$.name: length 1 is less than minLength 2"},
		{"bad email", `{"fare":1,"currency":"USD","email":"Bob <bob@example.com>"}`, "$.email: not a valid email"},
		{"email without domain dot", `{"fare":1,"currency":"USD","email":"bob@localhost"}`, "$.email: not a valid email"},
		{"email two ats", `{"fare":1,"currency":"USD","email":"a@b@example.com"}`, "$.email: not a valid email"},
		{"bad date", `{"fare":1,"currency":"USD","day":"2023-02-29"}`, "$.day: not a valid date"},
		{"date wrong layout", `{"fare":1,"currency":"USD","day":"2024-2-01"}`, "$.day: not a valid date"},
		{"boolean", `{"fare":1,"currency":"USD","ok":"true"}`, "$.ok: expected boolean, got string"},
		{"too few items", `{"fare":1,"currency":"USD","stops":[]}`, "$.stops: 0 items, fewer than minItems 1"},
		{"too many items", `{"fare":1,"currency":"USD","stops":[{"at":"a"},{"at":"b"},{"at":"c"}]}`, "$.stops: 3 items, more than maxItems 2"},
		{"item path", `{"fare":1,"currency":"USD","stops":[{"at":"a"},{"at":5}]}`, "$.stops[1].at: expected string, got number"},
		{"item required path", `{"fare":1,"currency":"USD","stops":[{}]}`, "$.stops[0].at: required property missing"},
		{"open object takes anything", `{"fare":1,"currency":"USD","extra":{"Weird Key":true}}`, ""},
		{"unexpected key is quoted", `{"fare":1,"currency":"USD","a\"b":1}`, `$: unexpected property "a\"b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Decode([]byte(tt.value), 1<<20)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			err = s.Validate(v)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want == "":
				return
			case err == nil:
				t.Fatalf("Validate accepted %s, want %q", tt.value, tt.want)
			case err.Error() != tt.want:
				t.Errorf("error %q, want %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !strings.HasPrefix(ve.Path, "$") {
				t.Errorf("error %v is not a *ValidationError with a path", err)
			}
		})
	}
}

func TestValidateFirstErrorIsStable(t *testing.T) {
	s := mustCompile(t, `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"},"c":{"type":"string"}}}`)
	v, err := Decode([]byte(`{"c":1,"b":1,"a":1}`), 100)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := s.Validate(v); err == nil || err.Error() != "$.a: expected string, got number" {
			t.Fatalf("Validate: %v", err)
		}
	}
}

func TestValidateRefusesGoValues(t *testing.T) {
	s := mustCompile(t, `{"type":"number"}`)
	tests := []struct {
		name  string
		value any
	}{
		{"int", 3},
		{"float64", 3.5},
		{"bad json.Number", json.Number("1x")},
		{"typed map", map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Validate(tt.value); err == nil {
				t.Errorf("Validate(%#v) accepted", tt.value)
			}
		})
	}
	var nilSchema *Schema
	if err := nilSchema.Validate(json.Number("1")); err == nil {
		t.Error("nil schema accepted a value")
	}
}

func TestDecodeValidate(t *testing.T) {
	s := mustCompile(t, `{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}`)
	tests := []struct {
		name string
		raw  string
		want error
	}{
		{"ok", `{"a":1}`, nil},
		{"invalid", `{"a":"1"}`, ErrInvalid},
		{"duplicate smuggles a second value", `{"a":1,"a":"x"}`, ErrDuplicateKey},
		{"too large", `{"a":100000000000}`, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := s.DecodeValidate([]byte(tt.raw), 16)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeValidate: %v, want %v", err, tt.want)
			}
			if tt.want == nil && v.(map[string]any)["a"] != json.Number("1") {
				t.Errorf("value %#v", v)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	tests := []struct {
		format, value string
		want          bool
	}{
		{FormatEmail, "alice@example.com", true},
		{FormatEmail, "o'brien+tag@mail.example.org", true},
		{FormatEmail, "a@b.co", true},
		{FormatEmail, "", false},
		{FormatEmail, "@example.com", false},
		{FormatEmail, "alice@", false},
		{FormatEmail, "alice@example", false},
		{FormatEmail, "alice@127.0.0.1", false},
		{FormatEmail, "alice@-example.com", false},
		{FormatEmail, "alice@exa_mple.com", false},
		{FormatEmail, "al ice@example.com", false},
		{FormatEmail, ".alice@example.com", false},
		{FormatEmail, "al..ice@example.com", false},
		{FormatEmail, "alice@example..com", false},
		{FormatEmail, "\"alice\"@example.com", false},
		{FormatEmail, "alice@example.com\n", false},
		{FormatEmail, strings.Repeat("a", 65) + "@example.com", false},
		{FormatDate, "2024-01-31", true},
		{FormatDate, "2024-02-29", true},
		{FormatDate, "2023-02-29", false},
		{FormatDate, "2024-13-01", false},
		{FormatDate, "2024-1-01", false},
		{FormatDate, "24-01-01", false},
		{FormatDate, "2024-01-01T00:00:00Z", false},
		{FormatDate, "", false},
		{"uri", "http://x", false},
	}
	for _, tt := range tests {
		t.Run(tt.format+" "+tt.value, func(t *testing.T) {
			if got := checkFormat(tt.format, tt.value); got != tt.want {
				t.Errorf("checkFormat(%q, %q) = %v", tt.format, tt.value, got)
			}
		})
	}
}

func TestCmpDecimal(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"0", "-0", 0},
		{"0", "0.000e5", 0},
		{"1", "1.0", 0},
		{"1", "0.1e1", 0},
		{"100", "1e2", 0},
		{"1", "2", -1},
		{"-1", "-2", 1},
		{"-1", "0", -1},
		{"0", "1e-400", -1},
		{"0.1", "0.10000000000000000001", -1},
		{"123.45", "123.5", -1},
		{"99", "100", -1},
		{"1e40", "9.99e39", 1},
		{"1e99999999999999999999", "1e40", 1},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			a, okA := parseDecimal(tt.a)
			b, okB := parseDecimal(tt.b)
			if !okA || !okB {
				t.Fatalf("parse: %v %v", okA, okB)
			}
			if got := cmpDecimal(a, b); got != tt.want {
				t.Errorf("cmp = %d, want %d", got, tt.want)
			}
			if got := cmpDecimal(b, a); got != -tt.want {
				t.Errorf("reverse cmp = %d, want %d", got, -tt.want)
			}
		})
	}
	for _, bad := range []string{"", "-", "01", "1.", ".1", "+1", "1e", "1e+", "0x1", "1 ", "NaN", "Infinity", "--1"} {
		t.Run("refuses "+bad, func(t *testing.T) {
			if _, ok := parseDecimal(bad); ok {
				t.Errorf("parseDecimal(%q) accepted", bad)
			}
		})
	}
}
