package schema

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxJSONSchemaProperties bounds the properties one object of a JSON
// Schema view may declare.
const MaxJSONSchemaProperties = 256

// annotationKeywords carry no constraint the view could show; they are
// neither shown to the planner nor reported as hidden.
var annotationKeywords = map[string]bool{
	"description": true, "title": true, "default": true, "examples": true, "$schema": true, "$id": true,
	"$comment": true, "deprecated": true, "readOnly": true, "writeOnly": true, "$defs": true, "definitions": true,
	"$anchor": true,
}

// viewKeywords are what the view itself shows.
var viewKeywords = map[string]bool{
	"type": true, "properties": true, "required": true, "additionalProperties": true, "items": true,
	"enum": true, "const": true, "minLength": true, "maxLength": true, "minimum": true, "maximum": true,
	"minItems": true, "maxItems": true, "format": true, "$ref": true, "anyOf": true, "oneOf": true, "allOf": true,
}

type viewBuilder struct {
	aliases map[string]string
	root    any
	hidden  map[string]bool
	nodes   int
}

// MaxViewNodes bounds the nodes of a view, references followed: a
// document that refers to itself from many places would otherwise
// unfold exponentially.
const MaxViewNodes = 4096

func (b *viewBuilder) hide(k string) {
	if b.hidden == nil {
		b.hidden = map[string]bool{}
	}
	b.hidden[k] = true
}

func (b *viewBuilder) hiddenList() []string {
	out := make([]string, 0, len(b.hidden))
	for k := range b.hidden {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// anySchema accepts every value; the view uses it where the document's
// shape cannot be said in the subset's terms.
func anySchema() *Schema {
	s := &Schema{anyValue: true, types: slices.Clone(typeOrder), props: map[string]*Schema{}, additional: true}
	return s
}

// view builds the subset-level view of one node of a JSON Schema.
func (b *viewBuilder) view(v any, path string, depth int) (*Schema, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		if _, isBool := v.(bool); isBool {
			return anySchema(), nil
		}
		return nil, schemaErr(path, "a schema must be an object or a boolean")
	}
	// Every visit counts, the ones cut off by depth too: those are where
	// a self-referring document multiplies.
	if b.nodes++; b.nodes > MaxViewNodes {
		return nil, schemaErr(path, "more than %d schemas once its references are followed", MaxViewNodes)
	}
	if depth > MaxDepth {
		b.hide("(nesting deeper than 8)")
		return anySchema(), nil
	}
	for k := range obj {
		if !viewKeywords[k] && !annotationKeywords[k] {
			b.hide(k)
		}
	}
	if ref, ok := obj["$ref"].(string); ok {
		target, ok := b.resolve(ref)
		if !ok {
			return nil, schemaErr(path, "$ref %s does not point inside the document", quoteShort(ref))
		}
		return b.view(target, path+"/$ref", depth+1)
	}
	var s *Schema
	var err error
	switch {
	case obj["anyOf"] != nil || obj["oneOf"] != nil:
		key := "anyOf"
		if obj["anyOf"] == nil {
			key = "oneOf"
		}
		s, err = b.union(obj[key], path+"/"+key, depth)
	case obj["allOf"] != nil:
		b.hide("allOf")
		s = anySchema()
	default:
		s, err = b.typed(obj, path, depth)
	}
	if err != nil {
		return nil, err
	}
	if d, ok := obj["description"].(string); ok {
		s.desc = d
	}
	if t, ok := obj["title"].(string); ok {
		s.title = t
	}
	if d, ok := obj["default"]; ok {
		s.def, s.hasDef = d, true
	}
	return s, nil
}

// resolve follows a JSON pointer inside the document.
func (b *viewBuilder) resolve(ref string) (any, bool) {
	if ref == "#" {
		return b.root, true
	}
	if !strings.HasPrefix(ref, "#/") {
		return nil, false
	}
	cur := b.root
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// union views anyOf or oneOf: the types of every branch; an object's
// properties from its object branches, required only where every object
// branch requires them; constraints only when one branch carries them.
func (b *viewBuilder) union(v any, path string, depth int) (*Schema, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, schemaErr(path, "must be a non-empty list")
	}
	var branches []*Schema
	for i, e := range list {
		br, err := b.view(e, fmt.Sprintf("%s/%d", path, i), depth+1)
		if err != nil {
			return nil, err
		}
		if br.anyValue {
			return anySchema(), nil
		}
		branches = append(branches, br)
	}
	if len(branches) == 1 {
		return branches[0], nil
	}
	s := &Schema{props: map[string]*Schema{}}
	seen := map[string]bool{}
	var objects, arrays []*Schema
	for _, br := range branches {
		for _, t := range br.types {
			seen[t] = true
		}
		if br.Is(TypeObject) {
			objects = append(objects, br)
		}
		if br.Is(TypeArray) {
			arrays = append(arrays, br)
		}
	}
	for _, t := range typeOrder {
		if seen[t] {
			s.types = append(s.types, t)
		}
	}
	if len(objects) > 0 {
		s.realNames = map[string]string{}
		for i, o := range objects {
			for n, p := range o.props {
				if _, dup := s.props[n]; !dup {
					s.props[n] = p
					if r, ok := o.realNames[n]; ok {
						s.realNames[n] = r
					}
				}
			}
			if i == 0 {
				s.required = slices.Clone(o.required)
			} else {
				s.required = slices.DeleteFunc(s.required, func(r string) bool { return !o.IsRequired(r) })
			}
		}
		s.additional = true
	}
	if len(arrays) == 1 {
		s.items = arrays[0].items
	} else if len(arrays) > 1 {
		s.items = anySchema()
	}
	if len(branches) > 0 {
		b.hide("anyOf/oneOf")
	}
	return s, nil
}

// typed views a node with a type (or without one: then what its keywords
// imply, or any value).
func (b *viewBuilder) typed(obj map[string]any, path string, depth int) (*Schema, error) {
	s := &Schema{props: map[string]*Schema{}}
	switch t := obj["type"].(type) {
	case string:
		if !slices.Contains(typeOrder, t) {
			return nil, schemaErr(path, "unknown type %s", quoteShort(t))
		}
		s.types = []string{t}
	case []any:
		types, err := compileTypes(t)
		if err != nil {
			return nil, schemaErr(path, "type: %v", err)
		}
		s.types = types
	case nil:
		switch {
		case obj["properties"] != nil:
			s.types = []string{TypeObject}
		case obj["items"] != nil:
			s.types = []string{TypeArray}
		case obj["enum"] != nil || obj["const"] != nil:
			s.types = enumTypes(obj)
		default:
			any := anySchema()
			return any, nil
		}
	default:
		return nil, schemaErr(path, "type must be a string or a list of strings")
	}
	if s.Is(TypeObject) {
		if err := b.object(s, obj, path, depth); err != nil {
			return nil, err
		}
	}
	if s.Is(TypeArray) {
		s.items = anySchema()
		switch it := obj["items"].(type) {
		case map[string]any, bool:
			items, err := b.view(it, path+"/items", depth+1)
			if err != nil {
				return nil, err
			}
			s.items = items
		case nil:
		default:
			b.hide("items (a list)")
		}
		s.minItems, _ = compileCount(obj, "minItems")
		s.maxItems, _ = compileCount(obj, "maxItems")
	}
	if s.Is(TypeString) {
		s.minLength, _ = compileCount(obj, "minLength")
		s.maxLength, _ = compileCount(obj, "maxLength")
		if f, ok := obj["format"].(string); ok {
			if f == FormatEmail || f == FormatDate {
				s.format = f
			} else {
				b.hide("format")
			}
		}
	}
	if s.Is(TypeNumber) || s.Is(TypeInteger) {
		for _, k := range []string{"minimum", "maximum"} {
			n, ok := obj[k].(json.Number)
			if !ok {
				continue
			}
			if _, _, reason := checkNumber(n); reason != "" {
				b.hide(k)
				continue
			}
			if k == "minimum" {
				s.minimum = &n
			} else {
				s.maximum = &n
			}
		}
	}
	b.enum(s, obj)
	return s, nil
}

func enumTypes(obj map[string]any) []string {
	vals, _ := obj["enum"].([]any)
	if c, ok := obj["const"]; ok {
		vals = []any{c}
	}
	seen := map[string]bool{}
	for _, v := range vals {
		switch v := v.(type) {
		case string:
			seen[TypeString] = true
		case json.Number:
			if _, isInt, _ := checkNumber(v); isInt {
				seen[TypeInteger] = true
			}
			seen[TypeNumber] = true
		case bool:
			seen[TypeBoolean] = true
		case nil:
			seen[TypeNull] = true
		case map[string]any:
			seen[TypeObject] = true
		case []any:
			seen[TypeArray] = true
		}
	}
	var out []string
	for _, t := range typeOrder {
		if seen[t] {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return slices.Clone(typeOrder)
	}
	return out
}

// enumValueRE is what a string must look like for the planner to see it
// as an enum value: short, and no prose.
var enumValueRE = regexp.MustCompile(`^[A-Za-z0-9 _.:/+@\-]*$`)

// enum shows an enum (or const) to the planner only when every value is
// a short plain scalar of one of the node's types; otherwise the
// validator alone applies it.
func (b *viewBuilder) enum(s *Schema, obj map[string]any) {
	vals, ok := obj["enum"].([]any)
	key := "enum"
	if c, isConst := obj["const"]; isConst {
		vals, ok, key = []any{c}, true, "const"
	}
	if !ok {
		return
	}
	if len(vals) == 0 || len(vals) > MaxEnum {
		b.hide(key)
		return
	}
	for i, e := range vals {
		switch e := e.(type) {
		case string:
			if utf8.RuneCountInString(e) > MaxEnumString || !enumValueRE.MatchString(e) {
				b.hide(key)
				return
			}
		case json.Number, bool, nil:
		default:
			b.hide(key)
			return
		}
		if s.typeMismatch(e) != "" {
			b.hide(key)
			return
		}
		for j := range i {
			if scalarEqual(vals[j], e) {
				b.hide(key)
				return
			}
		}
	}
	s.enum = vals
}

// object views an object node: its properties under their aliases.
func (b *viewBuilder) object(s *Schema, obj map[string]any, path string, depth int) error {
	props, _ := obj["properties"].(map[string]any)
	if obj["properties"] != nil && props == nil {
		return schemaErr(path, "properties must be an object")
	}
	if len(props) > MaxJSONSchemaProperties {
		return schemaErr(path, "%d properties, limit %d", len(props), MaxJSONSchemaProperties)
	}
	for _, realName := range sortedKeys(props) {
		alias := realName
		if a, ok := b.aliases[realName]; ok {
			alias = a
		} else if !ValidName(realName) {
			return schemaErr(path, "property %s needs an alias matching %s", quoteShort(realName), NamePattern)
		}
		if _, dup := s.props[alias]; dup {
			return schemaErr(path, "two properties have the alias %s", alias)
		}
		child, err := b.view(props[realName], path+"/properties/"+realName, depth+1)
		if err != nil {
			return err
		}
		s.props[alias] = child
		if alias != realName {
			if s.realNames == nil {
				s.realNames = map[string]string{}
			}
			s.realNames[alias] = realName
		}
	}
	if req, ok := obj["required"].([]any); ok {
		for _, r := range req {
			name, _ := r.(string)
			for alias, p := range s.props {
				_ = p
				if s.realName(alias) == name && !slices.Contains(s.required, alias) {
					s.required = append(s.required, alias)
				}
			}
		}
		slices.Sort(s.required)
	}
	s.additional = true
	switch a := obj["additionalProperties"].(type) {
	case bool:
		s.additional = a
	case map[string]any:
		addl, err := b.view(a, path+"/additionalProperties", depth+1)
		if err != nil {
			return err
		}
		s.addl = addl
	}
	if obj["patternProperties"] != nil || obj["propertyNames"] != nil {
		s.additional = s.additional || obj["patternProperties"] != nil
	}
	return nil
}
