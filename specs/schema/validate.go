package schema

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Validate checks a value as Decode produces it (map[string]any, []any,
// string, json.Number, bool, nil) against the schema. The first failure is
// returned as a *ValidationError with the JSON path of the offending value,
// e.g. "$.fare: expected number, got string". Failures are reported in a
// fixed order, so the same value always gives the same error.
func (s *Schema) Validate(v any) error {
	if s == nil {
		return &ValidationError{Path: "$", Reason: "no schema"}
	}
	if s.real != nil {
		return s.validateReal(v)
	}
	return s.validate(v, "$")
}

// DecodeValidate decodes untrusted JSON with Decode and validates it.
func (s *Schema) DecodeValidate(raw []byte, maxBytes int) (any, error) {
	v, err := Decode(raw, maxBytes)
	if err != nil {
		return nil, err
	}
	if err := s.Validate(v); err != nil {
		return nil, err
	}
	return v, nil
}

func invalid(path, format string, args ...any) error {
	return &ValidationError{Path: path, Reason: fmt.Sprintf(format, args...)}
}

func (s *Schema) validate(v any, path string) error {
	if s.anyValue {
		return nil
	}
	if reason := s.typeMismatch(v); reason != "" {
		return invalid(path, "%s", reason)
	}
	if s.enum != nil && !s.inEnum(v) {
		return invalid(path, "not one of the allowed values")
	}
	switch v := v.(type) {
	case string:
		return s.validateString(v, path)
	case json.Number:
		return s.validateNumber(v, path)
	case []any:
		return s.validateArray(v, path)
	case map[string]any:
		return s.validateObject(v, path)
	}
	return nil
}

// typeMismatch says why v's JSON type is not one the schema accepts, or "".
func (s *Schema) typeMismatch(v any) string {
	var got string
	switch v := v.(type) {
	case nil:
		got = TypeNull
	case bool:
		got = TypeBoolean
	case string:
		got = TypeString
	case json.Number:
		_, isInt, reason := checkNumber(v)
		if reason != "" {
			return reason
		}
		if s.Is(TypeNumber) || isInt && s.Is(TypeInteger) {
			return ""
		}
		got = TypeNumber
	case map[string]any:
		got = TypeObject
	case []any:
		got = TypeArray
	default:
		return fmt.Sprintf("expected %s, got Go value of type %T", strings.Join(s.types, " or "), v)
	}
	if s.Is(got) {
		return ""
	}
	return fmt.Sprintf("expected %s, got %s", strings.Join(s.types, " or "), got)
}

func (s *Schema) inEnum(v any) bool {
	for _, e := range s.enum {
		if scalarEqual(e, v) {
			return true
		}
	}
	return false
}

// scalarEqual compares two JSON scalars; numbers compare by value, so 1 and
// 1.0 are equal.
func scalarEqual(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case json.Number:
		bn, ok := b.(json.Number)
		if !ok {
			return false
		}
		da, okA := parseDecimal(string(a))
		db, okB := parseDecimal(string(bn))
		if !okA || !okB {
			return a == bn
		}
		return cmpDecimal(da, db) == 0
	}
	return false
}

func (s *Schema) validateString(v, path string) error {
	n := utf8.RuneCountInString(v)
	if s.minLength != nil && n < *s.minLength {
		return invalid(path, "length %d is less than minLength %d", n, *s.minLength)
	}
	if s.maxLength != nil && n > *s.maxLength {
		return invalid(path, "length %d is more than maxLength %d", n, *s.maxLength)
	}
	if s.format != "" && !checkFormat(s.format, v) {
		return invalid(path, "not a valid %s", s.format)
	}
	return nil
}

func (s *Schema) validateNumber(v json.Number, path string) error {
	d, _ := parseDecimal(string(v)) // typeMismatch has checked the syntax
	if s.minimum != nil {
		lo, _ := parseDecimal(string(*s.minimum))
		if cmpDecimal(d, lo) < 0 {
			return invalid(path, "less than minimum %s", *s.minimum)
		}
	}
	if s.maximum != nil {
		hi, _ := parseDecimal(string(*s.maximum))
		if cmpDecimal(d, hi) > 0 {
			return invalid(path, "more than maximum %s", *s.maximum)
		}
	}
	return nil
}

func (s *Schema) validateArray(v []any, path string) error {
	if s.minItems != nil && len(v) < *s.minItems {
		return invalid(path, "%d items, fewer than minItems %d", len(v), *s.minItems)
	}
	if s.maxItems != nil && len(v) > *s.maxItems {
		return invalid(path, "%d items, more than maxItems %d", len(v), *s.maxItems)
	}
	for i, e := range v {
		if err := s.items.validate(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Schema) validateObject(v map[string]any, path string) error {
	for _, r := range s.required {
		if _, ok := v[r]; !ok {
			return invalid(path+"."+r, "required property missing")
		}
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, ok := s.props[k]
		if !ok {
			if s.additional {
				continue
			}
			return invalid(path, "unexpected property %s", quoteShort(k))
		}
		if err := p.validate(v[k], path+"."+k); err != nil {
			return err
		}
	}
	return nil
}
