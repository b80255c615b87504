package specs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/specs/schema"
	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// The exact keys a manifest and a function may have. encoding/json matches
// field names without regard to case, so Parse checks keys itself first.
var (
	manifestKeys = []string{"id", "version", "description", "kind", "instructions", "mcp", "schemas", "domains", "functions"}
	functionKeys = []string{"name", "tool", "description", "effect", "result", "aliases", "input", "output"}
)

// invalid builds every error Parse returns but ErrTooLarge; format may wrap
// a cause with %w, which errors.Is then finds beside ErrInvalidManifest.
func invalid(format string, args ...any) error {
	return fmt.Errorf("parse manifest: "+format+": %w", append(args, ErrInvalidManifest)...)
}

// Parse decodes and checks a manifest.
func Parse(data []byte) (*Manifest, error) {
	if len(data) > MaxManifestBytes {
		return nil, fmt.Errorf("parse manifest: %d bytes, limit %d: %w", len(data), MaxManifestBytes, ErrTooLarge)
	}
	// The generic decode refuses duplicate keys, bad UTF-8, deep nesting and
	// trailing data, none of which encoding/json notices.
	v, err := schema.Decode(data, MaxManifestBytes)
	if err != nil {
		return nil, invalid("%w", err)
	}
	if err := checkKeys(v); err != nil {
		return nil, err
	}
	var raw canonManifest
	if err := strictjson.Unmarshal(data, &raw, MaxManifestBytes); err != nil {
		return nil, invalid("%w", err)
	}
	return build(&raw)
}

// checkKeys refuses keys that differ from the known ones, in case included.
func checkKeys(v any) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return invalid("a manifest must be a JSON object")
	}
	for k := range obj {
		if !slices.Contains(manifestKeys, k) {
			return invalid("unknown field %s", short(k))
		}
	}
	if err := checkMCPKeys(obj["mcp"]); err != nil {
		return err
	}
	fns, _ := obj["functions"].([]any)
	for i, f := range fns {
		fo, ok := f.(map[string]any)
		if !ok {
			return invalid("function %d: must be an object", i)
		}
		for k := range fo {
			if !slices.Contains(functionKeys, k) {
				return invalid("function %d: unknown field %s", i, short(k))
			}
		}
	}
	return nil
}

func build(raw *canonManifest) (*Manifest, error) {
	if !validID(raw.ID) {
		return nil, invalid("id %s must match %s and not contain \"__\"", short(raw.ID), schema.NamePattern)
	}
	if !validVersion(raw.Version) {
		return nil, invalid("%s: version %s must be 1 to %d of 0-9 A-Z a-z . + - starting with a letter or digit", raw.ID, short(raw.Version), MaxVersion)
	}
	if err := checkText(raw.Description, MaxDescription, true); err != nil {
		return nil, invalid("%s: description: %v", raw.ID, err)
	}
	m := &Manifest{
		ID:           raw.ID,
		Version:      raw.Version,
		Description:  raw.Description,
		Kind:         raw.Kind,
		Instructions: raw.Instructions,
	}
	if raw.Kind != KindMCP && raw.MCP != nil {
		return nil, invalid("%s: only an mcp app has an mcp section", raw.ID)
	}
	switch raw.Schemas {
	case schema.DialectSubset:
	case schema.DialectJSONSchema:
		if raw.Kind != KindMCP {
			return nil, invalid("%s: only an mcp app's schemas are in %q", raw.ID, schema.DialectJSONSchema)
		}
	default:
		return nil, invalid("%s: schemas %s must be %q or absent", raw.ID, short(raw.Schemas), schema.DialectJSONSchema)
	}
	m.Schemas = raw.Schemas
	switch raw.Kind {
	case KindMCP:
		if raw.Instructions != "" {
			return nil, invalid("%s: only a prompt app has instructions", raw.ID)
		}
		if len(raw.Functions) == 0 {
			return nil, invalid("%s: an mcp app needs at least one function (one of its server's tools)", raw.ID)
		}
		spec, err := buildMCP(raw.MCP)
		if err != nil {
			return nil, invalid("%s: mcp: %v", raw.ID, err)
		}
		m.MCP = spec
	case KindBuiltin:
		if raw.Instructions != "" {
			return nil, invalid("%s: only a prompt app has instructions", raw.ID)
		}
		if len(raw.Functions) == 0 {
			return nil, invalid("%s: a builtin app needs at least one function", raw.ID)
		}
	case KindPrompt:
		if err := checkText(raw.Instructions, MaxInstructions, true); err != nil {
			return nil, invalid("%s: instructions: %v", raw.ID, err)
		}
		if len(raw.Functions) != 0 {
			return nil, invalid("%s: a prompt app has no functions", raw.ID)
		}
		if len(raw.Domains) != 0 {
			return nil, invalid("%s: a prompt app runs no code and reaches no domains", raw.ID)
		}
	default:
		return nil, invalid("%s: kind %s must be %q, %q or %q", raw.ID, short(raw.Kind), KindBuiltin, KindPrompt, KindMCP)
	}
	domains, err := checkDomains(raw.Domains)
	if err != nil {
		return nil, invalid("%s: %v", raw.ID, err)
	}
	m.Domains = domains
	if len(raw.Functions) > MaxFunctions {
		return nil, invalid("%s: %d functions, limit %d", raw.ID, len(raw.Functions), MaxFunctions)
	}
	for i := range raw.Functions {
		f, err := buildFunction(&raw.Functions[i], raw.Schemas, raw.Kind)
		if err != nil {
			return nil, invalid("%s: function %d: %w", raw.ID, i, err)
		}
		if _, dup := m.Function(f.Name); dup {
			return nil, invalid("%s: function %q declared twice", raw.ID, f.Name)
		}
		if slices.ContainsFunc(m.Functions, func(g *Function) bool { return g.Tool == f.Tool }) {
			return nil, invalid("%s: tool %s is the tool of two functions", raw.ID, short(f.Tool))
		}
		m.Functions = append(m.Functions, f)
	}
	slices.SortFunc(m.Functions, func(a, b *Function) int { return strings.Compare(a.Name, b.Name) })
	return m, nil
}

func buildFunction(raw *canonFunction, dialect, kind string) (*Function, error) {
	if !validID(raw.Name) {
		return nil, fmt.Errorf("name %s must match %s and not contain \"__\"", short(raw.Name), schema.NamePattern)
	}
	if err := checkText(raw.Description, MaxFunctionDescription, false); err != nil {
		return nil, fmt.Errorf("%s: description: %v", raw.Name, err)
	}
	f := &Function{Name: raw.Name, Tool: raw.Tool, Description: raw.Description, Effect: raw.Effect, Result: raw.Result}
	switch raw.Effect {
	case "":
		f.Effect = EffectRead
	case EffectRead, EffectWrite:
	default:
		return nil, fmt.Errorf("%s: effect %s must be %q or %q", raw.Name, short(raw.Effect), EffectRead, EffectWrite)
	}
	if err := f.checkTool(kind); err != nil {
		return nil, err
	}
	if len(raw.Aliases) > 0 && dialect != schema.DialectJSONSchema {
		return nil, fmt.Errorf("%s: aliases are for schemas in %q", raw.Name, schema.DialectJSONSchema)
	}
	if err := checkAliases(raw.Aliases); err != nil {
		return nil, fmt.Errorf("%s: aliases: %w", raw.Name, err)
	}
	f.Aliases = raw.Aliases
	compile := schema.Compile
	if dialect == schema.DialectJSONSchema {
		compile = func(r json.RawMessage) (*schema.Schema, error) { return schema.CompileJSONSchema(r, raw.Aliases) }
	}
	var err error
	if f.Input, err = objectSchema(raw.Input, compile); err != nil {
		return nil, fmt.Errorf("%s: input: %w", raw.Name, err)
	}
	switch raw.Result {
	case "", ResultStructured:
		f.Result = ResultStructured
		if f.Output, err = objectSchema(raw.Output, compile); err != nil {
			return nil, fmt.Errorf("%s: output: %w", raw.Name, err)
		}
	case ResultText:
		if kind != KindMCP {
			return nil, fmt.Errorf("%s: only an mcp app's functions have text results", raw.Name)
		}
		if len(raw.Output) != 0 {
			return nil, fmt.Errorf("%s: a function with a text result has no output: it is %s", raw.Name, "the hub's record of the content items")
		}
		f.Output = TextOutput()
	default:
		return nil, fmt.Errorf("%s: result %s must be %q or %q", raw.Name, short(raw.Result), ResultStructured, ResultText)
	}
	return f, nil
}

// objectSchema compiles a function's input or output with compile; it
// must describe an object and nothing else, so that results are typed
// records.
func objectSchema(raw json.RawMessage, compile func(json.RawMessage) (*schema.Schema, error)) (*schema.Schema, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("missing")
	}
	s, err := compile(raw)
	if err != nil {
		return nil, err
	}
	if t := s.Types(); len(t) != 1 || t[0] != schema.TypeObject {
		return nil, fmt.Errorf("type must be \"object\", not %v", t)
	}
	return s, nil
}
