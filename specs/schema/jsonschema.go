package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Dialects a function's schemas may be written in.
const (
	// DialectSubset is isolategpt's own strict subset (Compile): closed
	// objects unless they say otherwise, identifier property names.
	DialectSubset = ""
	// DialectJSONSchema is JSON Schema as MCP servers write it (draft-07,
	// 2019-09 or 2020-12): validated by a maintained validator
	// (santhosh-tekuri/jsonschema/v6), open objects unless they say
	// otherwise, property names of any spelling, each shown to the hub
	// under an identifier alias.
	DialectJSONSchema = "json-schema"
)

// MaxJSONSchemaText is the longest description or title a JSON Schema
// node may carry, in characters.
const MaxJSONSchemaText = 8192

// real is what a schema compiled from JSON Schema keeps besides its view:
// the document as written (real property names) and its validator.
type real struct {
	doc       any
	canonical json.RawMessage
	v         *jsonschema.Schema
	hidden    []string
}

// CompileJSONSchema compiles a JSON Schema document an MCP server wrote.
// aliases maps real property names to the identifiers the hub uses for
// them (anywhere in the document); a name that is already an identifier
// needs no alias. The result is a view in the subset's terms, over the
// aliases, that the planner and the plan validator read; Validate takes
// values under the aliases, renames them and checks them with the full
// validator, every keyword applied. Nothing is fetched: a $ref must point
// inside the document.
func CompileJSONSchema(raw json.RawMessage, aliases map[string]string) (*Schema, error) {
	doc, err := Decode(raw, MaxSchemaBytes)
	if err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	for r, a := range aliases {
		if !ValidName(a) {
			return nil, schemaErr("#", "alias %s of %s does not match %s", quoteShort(a), quoteShort(r), NamePattern)
		}
	}
	if err := checkDocText(doc, "#"); err != nil {
		return nil, err
	}
	v, err := validatorOf(doc)
	if err != nil {
		return nil, err
	}
	b := &viewBuilder{aliases: aliases, root: doc}
	s, err := b.view(doc, "#", 0)
	if err != nil {
		return nil, err
	}
	canon, err := canonicalJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	s.real = &real{doc: doc, canonical: canon, v: v, hidden: b.hiddenList()}
	return s, nil
}

// validatorOf compiles doc with a loader that loads nothing, so a $ref to
// a file or a URL fails instead of reading the hub's disk or the network.
func validatorOf(doc any) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	const loc = "urn:isolategpt:schema"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("compile schema: %v: %w", err, ErrSchema)
	}
	v, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("compile schema: %s: %w", firstLine(err.Error()), ErrSchema)
	}
	return v, nil
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s: schemas are never loaded from outside the document", quoteShort(url))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return truncateRunes(s, 200)
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// checkDocText refuses descriptions and titles that could disguise
// themselves when shown, or that are too long.
func checkDocText(v any, path string) error {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(v) {
			if k == "description" || k == "title" {
				if s, ok := v[k].(string); ok {
					if _, err := compileTextLimit(s, MaxJSONSchemaText); err != nil {
						return schemaErr(path, "%s: %v", k, err)
					}
				}
			}
			if err := checkDocText(v[k], path+"/"+k); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if err := checkDocText(e, fmt.Sprintf("%s/%d", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Dialect is the dialect the schema was compiled from.
func (s *Schema) Dialect() string {
	if s != nil && s.real != nil {
		return DialectJSONSchema
	}
	return DialectSubset
}

// Document is the schema as its author wrote it, in canonical JSON (keys
// sorted): for a JSON Schema, with its real property names and every
// keyword; for the subset, MarshalJSON's encoding. It is what a manifest
// stores and hashes.
func (s *Schema) Document() json.RawMessage {
	if s.real != nil {
		return bytes.Clone(s.real.canonical)
	}
	b, _ := json.Marshal(s)
	return b
}

// Hidden lists the keywords of a JSON Schema that its view does not show
// (the validator still applies them), such as "pattern" or "anyOf", each
// once, sorted.
func (s *Schema) Hidden() []string {
	if s.real == nil {
		return nil
	}
	return slices.Clone(s.real.hidden)
}

// validateReal renames v to the real property names and checks it with
// the full validator.
func (s *Schema) validateReal(v any) error {
	rv, err := s.ToReal(v)
	if err != nil {
		return &ValidationError{Path: "$", Reason: err.Error()}
	}
	err = s.real.v.Validate(rv)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &ValidationError{Path: "$", Reason: "validator: " + firstLine(err.Error())}
	}
	leaf := ve
	for len(leaf.Causes) > 0 {
		leaf = leaf.Causes[0]
	}
	path := "$"
	for _, p := range leaf.InstanceLocation {
		switch {
		case isIndex(p):
			path += "[" + p + "]"
		case plainKeyRE.MatchString(p):
			path += "." + p
		default:
			path += "[" + quoteShort(p) + "]"
		}
	}
	kw := "schema"
	if leaf.ErrorKind != nil {
		if k := leaf.ErrorKind.KeywordPath(); len(k) > 0 {
			kw = strings.Join(k, "/")
		}
	}
	return &ValidationError{Path: path, Reason: "does not satisfy " + kw}
}

var plainKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// ToReal renames the keys of a value under the hub's aliases to the real
// property names the schema's author uses. Keys the schema does not
// declare pass unchanged; a key that would collide with another is an
// error (fail closed: two keys must not become one).
func (s *Schema) ToReal(v any) (any, error) { return s.rename(v, true) }

// FromReal renames a value under the real property names to the hub's
// aliases: the inverse of ToReal.
func (s *Schema) FromReal(v any) (any, error) { return s.rename(v, false) }

func (s *Schema) rename(v any, toReal bool) (any, error) {
	if s == nil || s.anyValue {
		return v, nil
	}
	switch v := v.(type) {
	case map[string]any:
		if !s.Is(TypeObject) {
			return v, nil
		}
		out := make(map[string]any, len(v))
		for _, k := range sortedKeys(v) {
			nk, child := k, s.additionalSchema()
			if toReal {
				if p, ok := s.props[k]; ok {
					nk, child = s.realName(k), p
				}
			} else if alias, ok := s.aliasOf(k); ok {
				nk, child = alias, s.props[alias]
			}
			if _, dup := out[nk]; dup {
				return nil, fmt.Errorf("property %s given twice under two names", quoteShort(nk))
			}
			nv, err := child.rename(v[k], toReal)
			if err != nil {
				return nil, err
			}
			out[nk] = nv
		}
		return out, nil
	case []any:
		if s.items == nil {
			return v, nil
		}
		out := make([]any, len(v))
		for i, e := range v {
			nv, err := s.items.rename(e, toReal)
			if err != nil {
				return nil, err
			}
			out[i] = nv
		}
		return out, nil
	}
	return v, nil
}

func (s *Schema) realName(alias string) string {
	if r, ok := s.realNames[alias]; ok {
		return r
	}
	return alias
}

func (s *Schema) aliasOf(realName string) (string, bool) {
	for a, r := range s.realNames {
		if r == realName {
			return a, true
		}
	}
	if _, ok := s.props[realName]; ok {
		if _, renamed := s.realNames[realName]; !renamed {
			return realName, true
		}
	}
	return "", false
}

func (s *Schema) additionalSchema() *Schema {
	if s.addl != nil {
		return s.addl
	}
	return nil
}

// canonicalJSON encodes decoded JSON with sorted keys and numbers as
// written.
func canonicalJSON(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
