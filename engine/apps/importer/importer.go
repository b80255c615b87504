// Package importer turns what an MCP server reports about itself (its
// initialize reply and its tools/list) into an app manifest a person can
// review: the server's schemas kept whole, every name that is not an
// identifier given an alias, effects proposed from the server's
// annotations (write unless it claims read-only), and every tool or
// keyword that cannot be used listed with the reason.
//
//	server ──tools/list──▶ Build ──▶ Report{Manifest, Dropped, Hidden, Aliases, Proposed}
//	                                   │ the user reviews it, confirms the effects
//	                                   ▼
//	                               Report.Apply(readOnly) ──▶ the manifest installed, tools/list pinned
package importer

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/schema"
)

// Source is what the hub knows of a server before it lists its tools.
type Source struct {
	ID      string
	Version string
	MCP     *specs.MCP
	Domains []string
	// ServerName, ServerVersion and Instructions are from the server's
	// initialize reply: its words.
	ServerName, ServerVersion, Instructions string
}

// Dropped is a tool that will not be callable, and why (the hub's words,
// the tool's name quoted).
type Dropped struct {
	Tool   string
	Reason string
}

// Function is what the report says about one function it kept.
type Function struct {
	Name string // the function's identifier
	Tool string // the server's name
	// Aliases are the renamed property names, server's → identifier.
	Aliases map[string]string
	// Hidden lists schema keywords the planner's view does not show (the
	// validator applies them all); Removed those Prepare took out.
	Hidden  []string
	Removed []string
	// ReadOnlyClaim is true when the server annotates the tool read-only.
	ReadOnlyClaim bool
	Result        string // specs.ResultStructured or specs.ResultText
	// Note says what the import changed in the server's text (a
	// description cut or removed).
	Notes []string
}

// Report is an import ready for review.
type Report struct {
	Source    Source
	Tools     []sandbox.Tool // the whole tools/list: the pin
	Functions []Function
	Dropped   []Dropped
	raw       map[string]any
}

// Build derives a manifest from a server's tools. Every function starts
// as a write; Apply settles the effects the user confirmed.
func Build(src Source, tools []sandbox.Tool) (*Report, error) {
	r := &Report{Source: src, Tools: tools}
	names := map[string]bool{}
	var fns []any
	for _, t := range tools {
		if len(fns) == specs.MaxFunctions {
			r.drop(t.Name, fmt.Sprintf("more than %d tools: an app may have at most %d functions", specs.MaxFunctions, specs.MaxFunctions))
			continue
		}
		fn, info, why := r.function(t, names)
		if why != "" {
			r.drop(t.Name, why)
			continue
		}
		names[info.Name] = true
		fns = append(fns, fn)
		r.Functions = append(r.Functions, info)
	}
	if len(fns) == 0 {
		return r, fmt.Errorf("import %s: none of the server's %d tools can be used", src.ID, len(tools))
	}
	r.raw = map[string]any{
		"id": src.ID, "version": src.Version, "kind": specs.KindMCP, "schemas": schema.DialectJSONSchema,
		"description": description(src), "mcp": mcpSection(src.MCP), "domains": nonNil(src.Domains), "functions": fns,
	}
	if _, err := r.Manifest(); err != nil {
		return r, err
	}
	return r, nil
}

func (r *Report) drop(tool, reason string) {
	r.Dropped = append(r.Dropped, Dropped{Tool: tool, Reason: reason})
}

// function turns one tool into a manifest function, or says why it
// cannot be one.
func (r *Report) function(t sandbox.Tool, taken map[string]bool) (map[string]any, Function, string) {
	info := Function{Tool: t.Name}
	if t.TaskSupport == "required" {
		return nil, info, "it runs only as an MCP task (execution.taskSupport \"required\"), which isolategpt does not offer"
	}
	if !specs.ValidToolName(t.Name) {
		return nil, info, fmt.Sprintf("its name is not 1 to %d of A-Z a-z 0-9 _ - . /", specs.MaxToolName)
	}
	info.Name = unique(Identifier(t.Name), func(n string) bool { return taken[n] || strings.Contains(n, "__") })
	in, removed, err := schema.Prepare(objectRoot(t.InputSchema))
	if err != nil {
		return nil, info, fmt.Sprintf("its input schema: %v", err)
	}
	info.Removed = removed
	var out json.RawMessage
	info.Result = specs.ResultText
	if len(t.OutputSchema) > 0 {
		o, removedOut, err := schema.Prepare(t.OutputSchema)
		if err == nil {
			out, info.Result = o, specs.ResultStructured
			info.Removed = append(info.Removed, removedOut...)
		} else {
			info.Notes = append(info.Notes, "its output schema cannot be read, so its result is read as text")
		}
	}
	info.Aliases, err = aliases(in, out)
	if err != nil {
		return nil, info, err.Error()
	}
	desc := t.Description
	if !schema.SafeText(desc) {
		desc = ""
		info.Notes = append(info.Notes, "its description held control or bidirectional formatting characters and was left out")
	} else if n := utf8.RuneCountInString(desc); n > specs.MaxFunctionDescription {
		desc = string([]rune(desc)[:specs.MaxFunctionDescription-1]) + "…"
		info.Notes = append(info.Notes, fmt.Sprintf("its description was cut from %d to %d characters", n, specs.MaxFunctionDescription))
	}
	fn := map[string]any{"name": info.Name, "description": desc, "effect": specs.EffectWrite, "result": info.Result, "input": json.RawMessage(in)}
	if info.Name != t.Name {
		fn["tool"] = t.Name
	}
	if info.Result == specs.ResultStructured {
		fn["output"] = json.RawMessage(out)
	}
	if len(info.Aliases) > 0 {
		fn["aliases"] = info.Aliases
	}
	// Compile it alone, so a schema the validator refuses drops this tool
	// and not the import.
	probe := map[string]any{"id": "probe", "version": "0", "kind": specs.KindMCP, "schemas": schema.DialectJSONSchema,
		"description": "probe", "mcp": map[string]any{"command": "probe"}, "functions": []any{fn}}
	if raw, err := json.Marshal(probe); err != nil {
		return nil, info, err.Error()
	} else if m, err := specs.Parse(raw); err != nil {
		return nil, info, strings.TrimPrefix(err.Error(), "parse manifest: probe: function 0: ")
	} else {
		f := m.Functions[0]
		info.Hidden = slices.Compact(slices.Sorted(slices.Values(append(f.Input.Hidden(), f.Output.Hidden()...))))
	}
	if a := t.Annotations; a != nil && a.ReadOnlyHint != nil && *a.ReadOnlyHint {
		info.ReadOnlyClaim = true
	}
	return fn, info, ""
}

// aliases names every property of the schemas that is not an identifier.
func aliases(in, out json.RawMessage) (map[string]string, error) {
	var all []string
	for _, doc := range []json.RawMessage{in, out} {
		if doc == nil {
			continue
		}
		names, err := schema.PropertyNames(doc)
		if err != nil {
			return nil, err
		}
		all = append(all, names...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	taken := map[string]bool{}
	for _, n := range all {
		if schema.ValidName(n) {
			taken[n] = true
		}
	}
	out2 := map[string]string{}
	for _, n := range all {
		if schema.ValidName(n) {
			continue
		}
		if len(n) > specs.MaxToolName || !schema.SafeText(n) || strings.ContainsAny(n, "\t\n") {
			return nil, fmt.Errorf("a property name of its schemas cannot be recorded (%q…)", truncate(n, 24))
		}
		a := unique(Identifier(n), func(c string) bool { return taken[c] })
		taken[a] = true
		out2[n] = a
	}
	if len(out2) > specs.MaxAliases {
		return nil, fmt.Errorf("its schemas have %d property names to rename, limit %d", len(out2), specs.MaxAliases)
	}
	return out2, nil
}

// Apply sets each function's effect: read for the functions named in
// readOnly, write for every other.
func (r *Report) Apply(readOnly []string) {
	for _, f := range r.raw["functions"].([]any) {
		fn := f.(map[string]any)
		fn["effect"] = specs.EffectWrite
		if slices.Contains(readOnly, fn["name"].(string)) {
			fn["effect"] = specs.EffectRead
		}
	}
}

// ClaimedReadOnly names the functions whose tools the server annotates
// read-only: the effects the import proposes.
func (r *Report) ClaimedReadOnly() []string {
	var out []string
	for _, f := range r.Functions {
		if f.ReadOnlyClaim {
			out = append(out, f.Name)
		}
	}
	return out
}

// Manifest is the manifest as it stands, parsed.
func (r *Report) Manifest() (*specs.Manifest, error) {
	raw, err := json.Marshal(r.raw)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", r.Source.ID, err)
	}
	m, err := specs.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", r.Source.ID, err)
	}
	return m, nil
}

func description(src Source) string {
	d := fmt.Sprintf("The MCP server %s %s, imported with isolategpt apps import.", src.ServerName, src.ServerVersion)
	if in := strings.TrimSpace(src.Instructions); in != "" && schema.SafeText(in) {
		d += " Its instructions:\n" + in
	}
	if n := utf8.RuneCountInString(d); n > specs.MaxDescription {
		d = string([]rune(d)[:specs.MaxDescription-1]) + "…"
	}
	if !schema.SafeText(d) {
		d = "An MCP server imported with isolategpt apps import."
	}
	return d
}

func mcpSection(c *specs.MCP) map[string]any {
	out := map[string]any{"command": c.Command, "args": nonNil(c.Args), "env": c.Env, "env_allow": nonNil(c.EnvAllow)}
	if c.Env == nil {
		out["env"] = map[string]string{}
	}
	if c.Timeout > 0 {
		out["timeout"] = c.Timeout
	}
	if c.NoRoots {
		out["roots"] = false
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// Identifier turns a server's name into one the hub can show and plan
// with: camelCase and kebab-case become snake_case, anything else not
// a-z 0-9 _ becomes "_", runs of "_" become one, at most 40 characters,
// starting with a letter.
func Identifier(s string) string {
	var b strings.Builder
	prevLower := false
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
			if prevLower {
				b.WriteByte('_')
			}
			b.WriteRune(r + 'a' - 'A')
			prevLower = false
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			prevLower = true
		default:
			b.WriteByte('_')
			prevLower = false
		}
	}
	out := b.String()
	for strings.Contains(out, "__") {
		out = strings.ReplaceAll(out, "__", "_")
	}
	out = strings.Trim(out, "_")
	if out == "" || out[0] < 'a' || out[0] > 'z' {
		out = "x_" + out
	}
	if len(out) > 40 {
		out = strings.TrimRight(out[:40], "_")
	}
	return out
}

// unique returns name, or name with the smallest suffix _2, _3, … that
// taken refuses, within 40 characters.
func unique(name string, taken func(string) bool) string {
	if !taken(name) {
		return name
	}
	for i := 2; ; i++ {
		suffix := fmt.Sprintf("_%d", i)
		base := name
		if len(base)+len(suffix) > 40 {
			base = base[:40-len(suffix)]
		}
		if c := base + suffix; !taken(c) {
			return c
		}
	}
}

// CheckMCP checks how a server is to be started (its command, arguments
// and environment) by the manifest's own rules, before anything runs.
func CheckMCP(id string, c *specs.MCP, domains []string) error {
	probe := map[string]any{"id": id, "version": "0", "kind": specs.KindMCP, "description": "probe", "mcp": mcpSection(c),
		"domains": nonNil(domains), "functions": []any{map[string]any{"name": "probe", "input": map[string]any{"type": "object"}, "output": map[string]any{"type": "object"}}}}
	raw, err := json.Marshal(probe)
	if err != nil {
		return err
	}
	if _, err := specs.Parse(raw); err != nil {
		return fmt.Errorf("%s", strings.TrimPrefix(strings.TrimSuffix(err.Error(), ": invalid manifest"), "parse manifest: "))
	}
	return nil
}

// objectRoot gives an input schema that names no type at all (such as
// {}) the type MCP requires of it, object; any other is left as it is.
func objectRoot(raw json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return raw
	}
	if _, ok := m["type"]; ok {
		return raw
	}
	m["type"] = json.RawMessage(`"object"`)
	out, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return out
}
