package schema

import (
	"encoding/json"
	"slices"
)

// Public returns the schema as plain JSON data for the planner's catalog:
// types and constraints only. Every description, title and default is
// removed, because they are app-authored prose and the planner must never
// read app-authored text (DESIGN.md P3). Objects always state
// "additionalProperties" so that a reader who assumes standard JSON Schema
// (open by default) is not misled. The result re-compiles to an equivalent
// schema and marshals deterministically.
func (s *Schema) Public() map[string]any { return s.render(false) }

// MarshalJSON returns the full schema, descriptions included, for the app's
// own spoke and for the manifest's canonical form.
func (s *Schema) MarshalJSON() ([]byte, error) { return json.Marshal(s.render(true)) }

func (s *Schema) render(prose bool) map[string]any {
	out := map[string]any{}
	if s.anyValue {
		if prose && s.desc != "" {
			out["description"] = s.desc
		}
		return out
	}
	if len(s.types) == 1 {
		out["type"] = s.types[0]
	} else {
		out["type"] = slices.Clone(s.types)
	}
	if s.Is(TypeObject) {
		props := make(map[string]any, len(s.props))
		for n, p := range s.props {
			props[n] = p.render(prose)
		}
		out["properties"] = props
		out["additionalProperties"] = s.additional
		if len(s.required) > 0 {
			out["required"] = slices.Clone(s.required)
		}
	}
	if s.items != nil {
		out["items"] = s.items.render(prose)
	}
	if s.enum != nil {
		out["enum"] = slices.Clone(s.enum)
	}
	putInt(out, "minLength", s.minLength)
	putInt(out, "maxLength", s.maxLength)
	putInt(out, "minItems", s.minItems)
	putInt(out, "maxItems", s.maxItems)
	if s.minimum != nil {
		out["minimum"] = *s.minimum
	}
	if s.maximum != nil {
		out["maximum"] = *s.maximum
	}
	if s.format != "" {
		out["format"] = s.format
	}
	if prose {
		if s.desc != "" {
			out["description"] = s.desc
		}
		if s.title != "" {
			out["title"] = s.title
		}
		if s.hasDef {
			out["default"] = s.def
		}
	}
	return out
}

func putInt(m map[string]any, key string, v *int) {
	if v != nil {
		m[key] = *v
	}
}
