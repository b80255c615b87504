package specs

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/specs/schema"
)

// TestManifestSchemaDocument keeps manifest.schema.json, which is for people,
// true to what Parse enforces.
func TestManifestSchemaDocument(t *testing.T) {
	data, err := os.ReadFile("manifest.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("manifest.schema.json: %v", err)
	}
	at := func(path ...string) any {
		var v any = doc
		for _, p := range path {
			if l, ok := v.([]any); ok && len(p) == 1 && p[0] >= '0' && p[0] <= '9' && int(p[0]-'0') < len(l) {
				v = l[p[0]-'0']
				continue
			}
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("manifest.schema.json: no %v", path)
			}
			v = m[p]
		}
		return v
	}
	keys := func(path ...string) []string {
		m, _ := at(path...).(map[string]any)
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	strs := func(path ...string) []string {
		var out []string
		for _, e := range at(path...).([]any) {
			out = append(out, e.(string))
		}
		slices.Sort(out)
		return out
	}
	num := func(path ...string) int {
		f, _ := at(path...).(float64)
		return int(f)
	}
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	tests := []struct {
		name      string
		got, want any
	}{
		{"manifest fields", keys("properties"), sorted(manifestKeys)},
		{"required fields", strs("required"), []string{"description", "id", "kind", "version"}},
		{"function fields", keys("$defs", "function", "properties"), sorted(functionKeys)},
		{"function required", strs("$defs", "function", "required"), []string{"input", "name"}},
		{"results", strs("$defs", "function", "properties", "result", "enum"), []string{ResultStructured, ResultText}},
		{"dialects", strs("properties", "schemas", "enum"), []string{schema.DialectJSONSchema}},
		{"mcp timeout", num("properties", "mcp", "properties", "timeout", "maximum"), MaxTimeout},
		{"tool env", strs("$defs", "envName", "anyOf", "1", "enum"), sorted(toolEnv)},
		{"kinds", strs("properties", "kind", "enum"), sorted([]string{KindBuiltin, KindPrompt, KindMCP})},
		{"mcp fields", keys("properties", "mcp", "properties"), sorted(mcpKeys)},
		{"mcp arg count", num("properties", "mcp", "properties", "args", "maxItems"), MaxArgs},
		{"mcp arg length", num("properties", "mcp", "properties", "args", "items", "maxLength"), MaxArgBytes},
		{"mcp env count", num("properties", "mcp", "properties", "env", "maxProperties"), MaxEnv},
		{"mcp env value length", num("properties", "mcp", "properties", "env", "additionalProperties", "maxLength"), MaxEnvValue},
		{"mcp env_allow count", num("properties", "mcp", "properties", "env_allow", "maxItems"), MaxEnvAllow},
		{"env name prefixes", at("$defs", "envName", "anyOf", "0", "not", "pattern"), "^(" + strings.Join(dangerousPrefixes, "|") + ")"},
		{"effects", strs("$defs", "function", "properties", "effect", "enum"), []string{EffectRead, EffectWrite}},
		{"default effect", at("$defs", "function", "properties", "effect", "default"), EffectRead},
		{"name pattern", at("$defs", "name", "pattern"), schema.NamePattern},
		{"reserved separator", at("$defs", "name", "not", "pattern"), "__"},
		{"schema keywords", keys("$defs", "schema", "properties"), schema.Keywords()},
		{"description limit", num("properties", "description", "maxLength"), MaxDescription},
		{"instructions limit", num("properties", "instructions", "maxLength"), MaxInstructions},
		{"function description limit", num("$defs", "function", "properties", "description", "maxLength"), MaxFunctionDescription},
		{"function count", num("properties", "functions", "maxItems"), MaxFunctions},
		{"domain count", num("properties", "domains", "maxItems"), MaxDomains},
		{"schema description limit", num("$defs", "schema", "properties", "description", "maxLength"), schema.MaxDescription},
		{"property count", num("$defs", "schema", "properties", "properties", "maxProperties"), schema.MaxProperties},
		{"enum count", num("$defs", "schema", "properties", "enum", "maxItems"), schema.MaxEnum},
		{"schema property names", at("$defs", "schema", "properties", "properties", "propertyNames", "pattern"), schema.NamePattern},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflectEqual(tt.got, tt.want) {
				t.Errorf("manifest.schema.json says %v, Parse enforces %v", tt.got, tt.want)
			}
		})
	}
	t.Run("env name pattern", func(t *testing.T) {
		re := regexp.MustCompile(at("$defs", "envName", "pattern").(string))
		for _, v := range []string{"API_TOKEN", "A", "X1_Y", "", "lower", "1ABC", "A-B", "_A", strings.Repeat("A", 65)} {
			// checkEnvName also refuses listed names the pattern admits.
			if !re.MatchString(v) && checkEnvName(v) == nil {
				t.Errorf("env name %q: document refuses it, Parse accepts it", v)
			}
			if re.MatchString(v) && checkEnvName(v) != nil {
				t.Errorf("env name %q: document accepts it, Parse refuses it: %v", v, checkEnvName(v))
			}
		}
	})
	t.Run("version pattern", func(t *testing.T) {
		re := regexp.MustCompile(at("properties", "version", "pattern").(string))
		for _, v := range []string{"1.0.0", "2024.1", "1.0.0-rc.1+b5", "v1", "", "1 0", ".1", "-1", "1/2", "1234567890123456789012345678901234"} {
			if re.MatchString(v) != validVersion(v) {
				t.Errorf("version %q: document says %v, Parse says %v", v, re.MatchString(v), validVersion(v))
			}
		}
	})
}

func reflectEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
