package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"unicode/utf8"
)

// NamePattern is what a property name must match. The specs package uses the
// same rule for app ids and function names.
const NamePattern = `^[a-z][a-z0-9_]{0,39}$`

var nameRE = regexp.MustCompile(NamePattern)

// ValidName reports whether s matches NamePattern.
func ValidName(s string) bool { return nameRE.MatchString(s) }

var enumStringRE = regexp.MustCompile(`^[A-Za-z0-9 _.\-]*$`)

// keywords lists the supported keywords and the type each one belongs to
// ("" for those that apply to any schema).
var keywords = map[string]string{
	"type":                 "",
	"enum":                 "",
	"description":          "",
	"title":                "",
	"default":              "",
	"properties":           TypeObject,
	"required":             TypeObject,
	"additionalProperties": TypeObject,
	"items":                TypeArray,
	"minItems":             TypeArray,
	"maxItems":             TypeArray,
	"minLength":            TypeString,
	"maxLength":            TypeString,
	"format":               TypeString,
	"minimum":              TypeNumber,
	"maximum":              TypeNumber,
}

// Compile parses and checks a schema document. It fails closed: an unknown
// keyword, a malformed value or a limit passed is an error that says where.
func Compile(raw json.RawMessage) (*Schema, error) {
	v, err := Decode(raw, MaxSchemaBytes)
	if err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	return compileNode(v, "#", 0)
}

func schemaErr(path, format string, args ...any) error {
	return fmt.Errorf("compile schema at %s: %s: %w", path, fmt.Sprintf(format, args...), ErrSchema)
}

func compileNode(v any, path string, depth int) (*Schema, error) {
	if depth > MaxDepth {
		return nil, schemaErr(path, "nested more than %d levels", MaxDepth)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, schemaErr(path, "a schema must be an object")
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := keywords[k]; !ok {
			return nil, fmt.Errorf("compile schema at %s: keyword %s: %w", path, quoteShort(k), ErrUnsupportedKeyword)
		}
	}
	if len(obj) == 0 {
		// {} accepts every value, as in JSON Schema.
		return anySchema(), nil
	}
	s := &Schema{}
	rawType, ok := obj["type"]
	if !ok {
		return nil, schemaErr(path, "type is required")
	}
	types, err := compileTypes(rawType)
	if err != nil {
		return nil, schemaErr(path, "type: %v", err)
	}
	s.types = types
	for _, k := range keys {
		t := keywords[k]
		if t == "" {
			continue
		}
		if !s.Is(t) && !(t == TypeNumber && s.Is(TypeInteger)) {
			return nil, schemaErr(path, "%s needs type %s", k, t)
		}
	}
	if d, ok := obj["description"]; ok {
		if s.desc, err = compileText(d); err != nil {
			return nil, schemaErr(path, "description: %v", err)
		}
	}
	if t, ok := obj["title"]; ok {
		if s.title, err = compileText(t); err != nil {
			return nil, schemaErr(path, "title: %v", err)
		}
	}
	if d, ok := obj["default"]; ok {
		s.def, s.hasDef = d, true
	}
	if err := s.compileObject(obj, path, depth); err != nil {
		return nil, err
	}
	if err := s.compileArray(obj, path, depth); err != nil {
		return nil, err
	}
	if err := s.compileString(obj, path); err != nil {
		return nil, err
	}
	if err := s.compileNumber(obj, path); err != nil {
		return nil, err
	}
	if e, ok := obj["enum"]; ok {
		if err := s.compileEnum(e); err != nil {
			return nil, schemaErr(path, "enum: %v", err)
		}
	}
	return s, nil
}

func compileTypes(v any) ([]string, error) {
	var names []any
	switch t := v.(type) {
	case string:
		names = []any{t}
	case []any:
		if len(t) == 0 {
			return nil, fmt.Errorf("empty list")
		}
		names = t
	default:
		return nil, fmt.Errorf("must be a string or a list of strings")
	}
	seen := map[string]bool{}
	for _, n := range names {
		name, ok := n.(string)
		if !ok {
			return nil, fmt.Errorf("must be a string or a list of strings")
		}
		if !slices.Contains(typeOrder, name) {
			return nil, fmt.Errorf("unknown type %s", quoteShort(name))
		}
		if seen[name] {
			return nil, fmt.Errorf("type %s listed twice", name)
		}
		seen[name] = true
	}
	var out []string
	for _, t := range typeOrder {
		if seen[t] {
			out = append(out, t)
		}
	}
	return out, nil
}

func compileText(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("must be a string")
	}
	return compileTextLimit(s, MaxDescription)
}

func compileTextLimit(s string, limit int) (string, error) {
	if n := utf8.RuneCountInString(s); n > limit {
		return "", fmt.Errorf("%d characters, limit %d", n, limit)
	}
	if !SafeText(s) {
		return "", fmt.Errorf("control or bidirectional formatting characters")
	}
	return s, nil
}

func (s *Schema) compileObject(obj map[string]any, path string, depth int) error {
	if !s.Is(TypeObject) {
		return nil
	}
	s.props = map[string]*Schema{}
	if p, ok := obj["properties"]; ok {
		props, ok := p.(map[string]any)
		if !ok {
			return schemaErr(path, "properties must be an object")
		}
		if len(props) > MaxProperties {
			return schemaErr(path, "%d properties, limit %d", len(props), MaxProperties)
		}
		names := make([]string, 0, len(props))
		for n := range props {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if !ValidName(n) {
				return schemaErr(path, "property name %s does not match %s", quoteShort(n), NamePattern)
			}
			child, err := compileNode(props[n], path+"/properties/"+n, depth+1)
			if err != nil {
				return err
			}
			s.props[n] = child
		}
	}
	if r, ok := obj["required"]; ok {
		list, ok := r.([]any)
		if !ok {
			return schemaErr(path, "required must be a list of strings")
		}
		seen := map[string]bool{}
		for _, e := range list {
			name, ok := e.(string)
			if !ok {
				return schemaErr(path, "required must be a list of strings")
			}
			if _, declared := s.props[name]; !declared {
				return schemaErr(path, "required property %s is not declared", quoteShort(name))
			}
			if seen[name] {
				return schemaErr(path, "required property %s listed twice", name)
			}
			seen[name] = true
			s.required = append(s.required, name)
		}
		sort.Strings(s.required)
	}
	if a, ok := obj["additionalProperties"]; ok {
		b, ok := a.(bool)
		if !ok {
			return schemaErr(path, "additionalProperties must be true or false")
		}
		s.additional = b
	}
	return nil
}

func (s *Schema) compileArray(obj map[string]any, path string, depth int) error {
	if !s.Is(TypeArray) {
		return nil
	}
	it, ok := obj["items"]
	if !ok {
		return schemaErr(path, "an array schema must say what its items are")
	}
	items, err := compileNode(it, path+"/items", depth+1)
	if err != nil {
		return err
	}
	s.items = items
	if s.minItems, err = compileCount(obj, "minItems"); err != nil {
		return schemaErr(path, "%v", err)
	}
	if s.maxItems, err = compileCount(obj, "maxItems"); err != nil {
		return schemaErr(path, "%v", err)
	}
	if s.minItems != nil && s.maxItems != nil && *s.minItems > *s.maxItems {
		return schemaErr(path, "minItems is greater than maxItems")
	}
	return nil
}

func (s *Schema) compileString(obj map[string]any, path string) error {
	if !s.Is(TypeString) {
		return nil
	}
	var err error
	if s.minLength, err = compileCount(obj, "minLength"); err != nil {
		return schemaErr(path, "%v", err)
	}
	if s.maxLength, err = compileCount(obj, "maxLength"); err != nil {
		return schemaErr(path, "%v", err)
	}
	if s.minLength != nil && s.maxLength != nil && *s.minLength > *s.maxLength {
		return schemaErr(path, "minLength is greater than maxLength")
	}
	if f, ok := obj["format"]; ok {
		name, _ := f.(string)
		if name != FormatEmail && name != FormatDate {
			return schemaErr(path, "format must be %q or %q", FormatEmail, FormatDate)
		}
		s.format = name
	}
	return nil
}

func (s *Schema) compileNumber(obj map[string]any, path string) error {
	if !s.Is(TypeNumber) && !s.Is(TypeInteger) {
		return nil
	}
	var lo, hi decimal
	for _, k := range []string{"minimum", "maximum"} {
		v, ok := obj[k]
		if !ok {
			continue
		}
		n, ok := v.(json.Number)
		if !ok {
			return schemaErr(path, "%s must be a number", k)
		}
		d, _, reason := checkNumber(n)
		if reason != "" {
			return schemaErr(path, "%s: %s", k, reason)
		}
		if k == "minimum" {
			s.minimum, lo = &n, d
		} else {
			s.maximum, hi = &n, d
		}
	}
	if s.minimum != nil && s.maximum != nil && cmpDecimal(lo, hi) > 0 {
		return schemaErr(path, "minimum is greater than maximum")
	}
	return nil
}

// compileCount reads a non-negative integer keyword such as minLength.
func compileCount(obj map[string]any, key string) (*int, error) {
	v, ok := obj[key]
	if !ok {
		return nil, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return nil, fmt.Errorf("%s must be a number", key)
	}
	_, isInt, reason := checkNumber(n)
	if reason != "" || !isInt {
		return nil, fmt.Errorf("%s must be an integer", key)
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i > math.MaxInt32 {
		return nil, fmt.Errorf("%s must be between 0 and %d", key, math.MaxInt32)
	}
	c := int(i)
	return &c, nil
}

func (s *Schema) compileEnum(v any) error {
	list, ok := v.([]any)
	if !ok {
		return fmt.Errorf("must be a list")
	}
	if len(list) == 0 {
		return fmt.Errorf("empty list")
	}
	if len(list) > MaxEnum {
		return fmt.Errorf("%d values, limit %d", len(list), MaxEnum)
	}
	for i, e := range list {
		switch e := e.(type) {
		case string:
			if utf8.RuneCountInString(e) > MaxEnumString || !enumStringRE.MatchString(e) {
				return fmt.Errorf("value %d: strings must be at most %d characters of A-Z a-z 0-9 space _ . -", i, MaxEnumString)
			}
		case json.Number, bool, nil:
		default:
			return fmt.Errorf("value %d: only strings, numbers, booleans and null are allowed", i)
		}
		if reason := s.typeMismatch(e); reason != "" {
			return fmt.Errorf("value %d: %s", i, reason)
		}
		for j := range i {
			if scalarEqual(list[j], e) {
				return fmt.Errorf("value %d repeats value %d", i, j)
			}
		}
	}
	s.enum = list
	return nil
}

// SafeText reports whether untrusted text is free of characters that can
// disguise it when shown: control characters other than tab and newline
// (terminal escapes among them) and the bidirectional overrides and isolates
// that reorder what a reader sees.
func SafeText(s string) bool {
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n':
		case r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f:
			return false
		case r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f || r == 0x061c:
			return false
		}
	}
	return true
}

// Keywords returns the supported keywords, sorted.
func Keywords() []string {
	out := make([]string, 0, len(keywords))
	for k := range keywords {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
