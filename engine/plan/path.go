package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/isolategpt/isolategpt/specs/schema"
)

// parseRef recognises {"$ref": "step.field"}. Parameter names cannot start
// with "$", so the form is unambiguous.
func parseRef(raw json.RawMessage) (Ref, bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return Ref{}, false, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return Ref{}, false, nil
	}
	v, ok := m["$ref"]
	if !ok {
		return Ref{}, false, nil
	}
	if len(m) != 1 {
		return Ref{}, false, errors.New(`a reference has only the key "$ref"`)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return Ref{}, false, errors.New(`"$ref" must be a string`)
	}
	parts, err := splitPath(s)
	if err != nil || len(parts) == 0 {
		return Ref{}, false, fmt.Errorf("reference %q is not step or step.field", s)
	}
	return Ref{Step: parts[0], Path: parts[1:]}, true, nil
}

// A path element is a field name, or an index into an array: "0" is the
// first item ("s1.messages.0.id"). Indexes stop at 999, and never have a
// leading zero, so each position has one spelling.
var (
	pathPart  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	indexPart = regexp.MustCompile(`^(?:0|[1-9][0-9]{0,2})$`)
)

// Index reports whether a path element is an array index, and which.
func Index(part string) (int, bool) {
	if !indexPart.MatchString(part) {
		return 0, false
	}
	n := 0
	for _, c := range part {
		n = n*10 + int(c-'0')
	}
	return n, true
}

func splitPath(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ".")
	if len(parts) > 8 {
		return nil, errors.New("path too deep")
	}
	for i, p := range parts {
		_, isIndex := Index(p)
		if !pathPart.MatchString(p) && (i == 0 || !isIndex) {
			return nil, fmt.Errorf("bad path element %q", p)
		}
	}
	return parts, nil
}

// schemaAt follows a path through a schema: a field of an object, or an item
// of an array. An index is accepted only where the schema is an array and
// nothing else; whether the item exists is known only at run time, where a
// missing one is a missing value.
func schemaAt(s *schema.Schema, path []string) (*schema.Schema, bool) {
	for _, p := range path {
		if _, isIndex := Index(p); isIndex {
			if !s.Is(schema.TypeArray) || len(s.Types()) != 1 || s.Items() == nil {
				return nil, false
			}
			s = s.Items()
			continue
		}
		next, ok := s.Property(p)
		if !ok {
			return nil, false
		}
		s = next
	}
	return s, true
}
