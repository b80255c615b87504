package schema

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// knownDrafts are the $schema values the validator has built in.
var knownDrafts = []string{
	"http://json-schema.org/draft-04/schema", "http://json-schema.org/draft-06/schema",
	"http://json-schema.org/draft-07/schema", "https://json-schema.org/draft/2019-09/schema",
	"https://json-schema.org/draft/2020-12/schema",
}

// Prepare readies a JSON Schema a server reported for CompileJSONSchema.
// It removes what this hub cannot apply and says what it removed, each
// entry "keyword at path": a $schema naming a draft the validator does not
// know (the document is then read as 2020-12), and a pattern (or a
// patternProperties key) that Go's linear-time regexp engine cannot
// compile, such as a look-ahead: the hub never runs a backtracking engine
// on an app's patterns. What is left is compiled as written.
func Prepare(raw json.RawMessage) (json.RawMessage, []string, error) {
	doc, err := Decode(raw, MaxSchemaBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("prepare schema: %w", err)
	}
	var dropped []string
	if m, ok := doc.(map[string]any); ok {
		if s, ok := m["$schema"].(string); ok && !slices.Contains(knownDrafts, strings.TrimSuffix(s, "#")) {
			delete(m, "$schema")
			dropped = append(dropped, "$schema at #")
		}
	}
	prune(doc, "#", &dropped)
	out, err := canonicalJSON(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("prepare schema: %w", err)
	}
	return out, dropped, nil
}

func prune(v any, path string, dropped *[]string) {
	switch v := v.(type) {
	case map[string]any:
		if p, ok := v["pattern"].(string); ok {
			if _, err := regexp.Compile(p); err != nil {
				delete(v, "pattern")
				*dropped = append(*dropped, "pattern at "+path)
			}
		}
		if pp, ok := v["patternProperties"].(map[string]any); ok {
			for k := range pp {
				if _, err := regexp.Compile(k); err != nil {
					delete(pp, k)
					*dropped = append(*dropped, "patternProperties at "+path)
				}
			}
		}
		for _, k := range sortedKeys(v) {
			prune(v[k], path+"/"+k, dropped)
		}
	case []any:
		for i, e := range v {
			prune(e, fmt.Sprintf("%s/%d", path, i), dropped)
		}
	}
}

// PropertyNames lists every property name a JSON Schema document
// declares, at any depth (under properties, and the names required
// lists), each once, sorted.
func PropertyNames(raw json.RawMessage) ([]string, error) {
	doc, err := Decode(raw, MaxSchemaBytes)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if p, ok := v["properties"].(map[string]any); ok {
				for k := range p {
					seen[k] = true
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out, nil
}
