// Package schema compiles and enforces the strict JSON Schema subset that app
// manifests use to type function inputs and outputs, and decodes untrusted
// JSON so that nothing can be smuggled past the check.
//
// Manifests are untrusted, so the subset fails closed: a keyword outside it is
// an error, objects are closed unless they say "additionalProperties": true,
// arrays must say what their items are, and every size is bounded. The
// supported keywords are type, properties, required, additionalProperties,
// items, enum, minLength, maxLength, minimum, maximum, minItems, maxItems,
// format ("email", "date"), description, title and default (kept for the
// app's own spoke, never applied).
package schema

import (
	"encoding/json"
	"slices"
	"sort"

	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// Limits of the subset.
const (
	// MaxDepth is how many levels of schemas may nest below the root.
	MaxDepth = 8
	// MaxProperties is the most properties one object schema may declare.
	MaxProperties = 64
	// MaxEnum is the most values an enum may list.
	MaxEnum = 64
	// MaxEnumString is the longest string enum value, in characters.
	MaxEnumString = 64
	// MaxDescription is the longest description or title, in characters.
	MaxDescription = 1024
	// MaxSchemaBytes is the largest schema document Compile reads.
	MaxSchemaBytes = 256 << 10
	// MaxDecodeDepth is how deeply Decode lets arrays and objects nest.
	MaxDecodeDepth = strictjson.MaxDepth
)

// The JSON types a schema may name.
const (
	TypeObject  = "object"
	TypeString  = "string"
	TypeNumber  = "number"
	TypeInteger = "integer"
	TypeBoolean = "boolean"
	TypeArray   = "array"
	TypeNull    = "null"
)

// typeOrder fixes the order in which types are stored and printed.
var typeOrder = []string{TypeObject, TypeArray, TypeString, TypeNumber, TypeInteger, TypeBoolean, TypeNull}

// Schema is a compiled schema. It is immutable after Compile and safe for
// concurrent use.
type Schema struct {
	types      []string // in typeOrder, no duplicates
	props      map[string]*Schema
	required   []string // sorted
	additional bool
	items      *Schema
	enum       []any // string, json.Number, bool or nil
	minLength  *int
	maxLength  *int
	minimum    *json.Number
	maximum    *json.Number
	minItems   *int
	maxItems   *int
	format     string
	desc       string
	title      string
	def        any
	hasDef     bool
	// anyValue marks a schema that accepts every JSON value (written {}).
	anyValue bool
	// addl is the schema of undeclared properties, when a JSON Schema
	// gives one (additional is then true).
	addl *Schema
	// realNames maps a property's alias to its author's name, where
	// they differ (JSON Schema only).
	realNames map[string]string
	// real is set on the root of a schema compiled from JSON Schema.
	real *real
}

// Any reports whether the schema accepts every JSON value.
func (s *Schema) Any() bool { return s.anyValue }

// RealName is the name the schema's author gave a declared property, for
// its alias: the same name unless the author's was not an identifier.
func (s *Schema) RealName(alias string) string { return s.realName(alias) }

// Types returns the JSON types the schema accepts, in a fixed order.
func (s *Schema) Types() []string { return slices.Clone(s.types) }

// Is reports whether t is one of the schema's declared types. It is literal:
// a schema of type "integer" is not "number" here.
func (s *Schema) Is(t string) bool { return slices.Contains(s.types, t) }

// Property returns the schema of a declared property.
func (s *Schema) Property(name string) (*Schema, bool) {
	p, ok := s.props[name]
	return p, ok
}

// PropertyNames returns the declared property names, sorted.
func (s *Schema) PropertyNames() []string {
	names := make([]string, 0, len(s.props))
	for n := range s.props {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Required returns the required property names, sorted.
func (s *Schema) Required() []string { return slices.Clone(s.required) }

// IsRequired reports whether name is a required property.
func (s *Schema) IsRequired(name string) bool {
	_, found := slices.BinarySearch(s.required, name)
	return found
}

// AdditionalProperties reports whether the object accepts undeclared keys.
func (s *Schema) AdditionalProperties() bool { return s.additional }

// Items returns the schema of array items, or nil if the schema is not an
// array schema.
func (s *Schema) Items() *Schema { return s.items }

// Enum returns the allowed values (string, json.Number, bool or nil), or nil
// when the schema has no enum.
func (s *Schema) Enum() []any { return slices.Clone(s.enum) }

// Format returns the string format ("email", "date") or "".
func (s *Schema) Format() string { return s.format }

// Description returns the app-authored description. It is untrusted text and
// must not reach the planner (DESIGN.md P3).
func (s *Schema) Description() string { return s.desc }

// Title returns the app-authored title; untrusted like Description.
func (s *Schema) Title() string { return s.title }
