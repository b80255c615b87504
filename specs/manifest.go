// Package specs parses and pins app manifests: what an app is called, what
// functions it offers with which typed inputs and outputs, and which domains
// it may reach; and it embeds the manifests of the built-in apps.
//
// A manifest is untrusted input. Parse is strict (unknown or repeated keys,
// bad names and oversized text are refused) and Hash pins a canonical
// encoding, so any change to what an app declares, down to a description,
// is visible (DESIGN.md P7).
package specs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/isolategpt/isolategpt/specs/schema"
	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// Kinds of app.
const (
	// KindBuiltin is an app whose functions are code compiled into the
	// binary (package specs/builtin), run in a sandbox.
	KindBuiltin = "builtin"
	// KindPrompt is an app with no functions: its instructions annotate the
	// conversation of its own spoke.
	KindPrompt = "prompt"
)

// Effects of a function.
const (
	// EffectRead marks a function without side effects (the default).
	EffectRead = "read"
	// EffectWrite marks an action with side effects: booking, sending.
	EffectWrite = "write"
)

// Limits on a manifest.
const (
	MaxManifestBytes       = 256 << 10
	MaxDescription         = 4096 // characters, app description
	MaxFunctionDescription = 8192 // characters
	MaxInstructions        = 8192 // characters
	MaxFunctions           = 64
	MaxDomains             = 32
	MaxVersion             = 32 // bytes
)

// Manifest is a parsed, checked app manifest. Functions are sorted by name
// and Domains sorted, whatever order the source used.
type Manifest struct {
	ID          string
	Version     string
	Description string // app-authored: only for the app's own spoke and the user
	Kind        string // KindBuiltin, KindPrompt or KindMCP
	// Instructions is a prompt app's annotation for its own spoke.
	Instructions string
	// MCP is how an MCP app's server is started; nil for other kinds.
	MCP *MCP
	// Schemas is the dialect of its functions' schemas:
	// schema.DialectSubset (isolategpt's) or schema.DialectJSONSchema (an
	// MCP server's, as it reported them).
	Schemas   string
	Domains   []string
	Functions []*Function
}

// Function is one function of an app.
type Function struct {
	// Name is the function's identifier in plans, prompts and the audit
	// log; Tool is the server's own name for it (the same unless the
	// server's is not an identifier).
	Name        string
	Tool        string
	Description string // app-authored
	Effect      string // EffectRead or EffectWrite
	// Result is how a call's result becomes the function's output:
	// ResultStructured or ResultText.
	Result string
	// Aliases maps the server's property names to their identifiers, for
	// names in Input and Output that are not identifiers themselves.
	Aliases map[string]string
	Input   *schema.Schema
	Output  *schema.Schema
}

// How a function's result is read.
const (
	// ResultStructured: the output is the tool's structured result (MCP
	// structuredContent), checked against Output.
	ResultStructured = "structured"
	// ResultText: the output is the hub's record of the tool's content
	// items, {"text", "content"} (TextOutput), whatever they hold.
	ResultText = "text"
)

// The exact keys a manifest and a function may have. encoding/json matches
// field names without regard to case, so Parse checks keys itself first.
var (
	manifestKeys = []string{"id", "version", "description", "kind", "instructions", "mcp", "schemas", "domains", "functions"}
	functionKeys = []string{"name", "tool", "description", "effect", "result", "aliases", "input", "output"}
)

type rawManifest struct {
	ID           string        `json:"id"`
	Version      string        `json:"version"`
	Description  string        `json:"description"`
	Kind         string        `json:"kind"`
	Instructions string        `json:"instructions"`
	MCP          *rawMCP       `json:"mcp"`
	Schemas      string        `json:"schemas"`
	Domains      []string      `json:"domains"`
	Functions    []rawFunction `json:"functions"`
}

type rawFunction struct {
	Name        string            `json:"name"`
	Tool        string            `json:"tool"`
	Description string            `json:"description"`
	Effect      string            `json:"effect"`
	Result      string            `json:"result"`
	Aliases     map[string]string `json:"aliases"`
	Input       json.RawMessage   `json:"input"`
	Output      json.RawMessage   `json:"output"`
}

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
	var raw rawManifest
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

func build(raw *rawManifest) (*Manifest, error) {
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

func buildFunction(raw *rawFunction, dialect, kind string) (*Function, error) {
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
	compile := func(r json.RawMessage) (*schema.Schema, error) { return objectSchema(r) }
	if dialect == schema.DialectJSONSchema {
		compile = func(r json.RawMessage) (*schema.Schema, error) { return jsonObjectSchema(r, raw.Aliases) }
	}
	var err error
	if f.Input, err = compile(raw.Input); err != nil {
		return nil, fmt.Errorf("%s: input: %w", raw.Name, err)
	}
	switch raw.Result {
	case "", ResultStructured:
		f.Result = ResultStructured
		if f.Output, err = compile(raw.Output); err != nil {
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

// checkTool checks the server's name for the function, which defaults to
// its name: an MCP tool name (1 to 128 of A-Z a-z 0-9 _ - . /), and only
// for an mcp app.
func (f *Function) checkTool(kind string) error {
	if f.Tool == "" {
		f.Tool = f.Name
		return nil
	}
	if kind != KindMCP {
		return fmt.Errorf("%s: only an mcp app's functions name a tool", f.Name)
	}
	if !ValidToolName(f.Tool) {
		return fmt.Errorf("%s: tool %s must be 1 to %d of A-Z a-z 0-9 _ - . /", f.Name, short(f.Tool), MaxToolName)
	}
	return nil
}

// MaxToolName bounds a server's tool name.
const MaxToolName = 128

// ValidToolName reports whether s is a tool name a manifest may record.
func ValidToolName(s string) bool {
	if s == "" || len(s) > MaxToolName {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && !strings.ContainsRune("_-./", rune(s[i])) {
			return false
		}
	}
	return true
}

// MaxAliases bounds a function's aliases.
const MaxAliases = 512

// checkAliases checks each alias is an identifier and each real name is
// a property name of bounded, safe text.
func checkAliases(a map[string]string) error {
	if len(a) > MaxAliases {
		return fmt.Errorf("%d aliases, limit %d", len(a), MaxAliases)
	}
	for _, r := range slices.Sorted(maps.Keys(a)) {
		if r == "" || len(r) > MaxToolName || !schema.SafeText(r) || strings.ContainsAny(r, "\t\n") {
			return fmt.Errorf("name %s is not a property name a manifest records", short(r))
		}
		if r == a[r] {
			return fmt.Errorf("%s is its own alias", short(r))
		}
		if !schema.ValidName(a[r]) {
			return fmt.Errorf("alias %s of %s must match %s", short(a[r]), short(r), schema.NamePattern)
		}
	}
	return nil
}

// jsonObjectSchema compiles a JSON Schema input or output, which must
// describe an object.
func jsonObjectSchema(raw json.RawMessage, aliases map[string]string) (*schema.Schema, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("missing")
	}
	s, err := schema.CompileJSONSchema(raw, aliases)
	if err != nil {
		return nil, err
	}
	if t := s.Types(); len(t) != 1 || t[0] != schema.TypeObject {
		return nil, fmt.Errorf("type must be \"object\", not %v", t)
	}
	return s, nil
}

// objectSchema compiles a function's input or output, which must be an
// object and nothing else, so that results are typed records.
func objectSchema(raw json.RawMessage) (*schema.Schema, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("missing")
	}
	s, err := schema.Compile(raw)
	if err != nil {
		return nil, err
	}
	if t := s.Types(); len(t) != 1 || t[0] != schema.TypeObject {
		return nil, fmt.Errorf("type must be \"object\", not %v", t)
	}
	return s, nil
}

// validID checks an app id or function name; "__" is reserved because the
// hub joins app and function with it.
func validID(s string) bool {
	return schema.ValidName(s) && !strings.Contains(s, "__")
}

func validVersion(s string) bool {
	if len(s) == 0 || len(s) > MaxVersion || !isAlnum(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && !strings.ContainsRune(".+-", rune(s[i])) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func checkText(s string, limit int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return fmt.Errorf("missing")
	}
	if n := utf8.RuneCountInString(s); n > limit {
		return fmt.Errorf("%d characters, limit %d", n, limit)
	}
	if !schema.SafeText(s) {
		return fmt.Errorf("control or bidirectional formatting characters")
	}
	return nil
}

// checkDomains returns the domains sorted, each a lower-case DNS name of at
// least two labels; the egress proxy decides what they admit.
func checkDomains(ds []string) ([]string, error) {
	if len(ds) > MaxDomains {
		return nil, fmt.Errorf("%d domains, limit %d", len(ds), MaxDomains)
	}
	out := slices.Clone(ds)
	slices.Sort(out)
	for i, d := range out {
		if !validDomain(d) {
			return nil, fmt.Errorf("domain %s must be a lower-case DNS name such as example.com", short(d))
		}
		if i > 0 && out[i-1] == d {
			return nil, fmt.Errorf("domain %q listed twice", d)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	// The top label is never numeric, so an IP address is not a domain.
	top := labels[len(labels)-1]
	return strings.Trim(top, "0123456789") != ""
}

// Function returns the function with the given name.
func (m *Manifest) Function(name string) (*Function, bool) {
	for _, f := range m.Functions {
		if f.Name == name {
			return f, true
		}
	}
	return nil, false
}

type canonManifest struct {
	ID           string `json:"id"`
	Version      string `json:"version"`
	Description  string `json:"description"`
	Kind         string `json:"kind"`
	Instructions string `json:"instructions"`
	// MCP is absent for other kinds, so their encoding (and pin) is the
	// same as before MCP apps existed.
	MCP *canonMCP `json:"mcp,omitempty"`
	// Schemas is absent for the subset, so older manifests keep their pin.
	Schemas   string          `json:"schemas,omitempty"`
	Domains   []string        `json:"domains"`
	Functions []canonFunction `json:"functions"`
}

// canonFunction's new members are omitted at their defaults, so that a
// manifest written before they existed keeps its pin.
type canonFunction struct {
	Name        string            `json:"name"`
	Tool        string            `json:"tool,omitempty"`
	Description string            `json:"description"`
	Effect      string            `json:"effect"`
	Result      string            `json:"result,omitempty"`
	Aliases     map[string]string `json:"aliases,omitempty"`
	Input       json.RawMessage   `json:"input"`
	Output      json.RawMessage   `json:"output,omitempty"`
}

// Raw returns the canonical encoding of the manifest: compact JSON with
// fields in a fixed order, every field present, functions and domains
// sorted, and schemas in their canonical form. Parse(m.Raw()) gives back the
// same manifest.
func (m *Manifest) Raw() []byte {
	c := canonManifest{
		ID:           m.ID,
		Version:      m.Version,
		Description:  m.Description,
		Kind:         m.Kind,
		Instructions: m.Instructions,
		MCP:          m.MCP.canon(),
		Schemas:      m.Schemas,
		Domains:      slices.Sorted(slices.Values(m.Domains)),
		Functions:    []canonFunction{},
	}
	if c.Domains == nil {
		c.Domains = []string{}
	}
	for _, f := range m.Functions {
		cf := canonFunction{Name: f.Name, Description: f.Description, Effect: f.Effect, Aliases: f.Aliases, Input: f.Input.Document()}
		if f.Tool != f.Name {
			cf.Tool = f.Tool
		}
		if f.Result == ResultText {
			cf.Result = ResultText
		} else {
			cf.Output = f.Output.Document()
		}
		c.Functions = append(c.Functions, cf)
	}
	slices.SortFunc(c.Functions, func(a, b canonFunction) int { return strings.Compare(a.Name, b.Name) })
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		// Strings, slices and compiled schemas always encode.
		panic(fmt.Sprintf("specs: canonical encoding of %s: %v", m.ID, err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Hash returns the hex SHA-256 of Raw: the manifest's pin. Two sources that
// differ only in key order or white space have the same hash; any change to
// a name, description, schema, effect or domain changes it.
func (m *Manifest) Hash() string {
	sum := sha256.Sum256(m.Raw())
	return hex.EncodeToString(sum[:])
}

// short quotes untrusted text for an error message, cut to a readable length.
func short(s string) string {
	const limit = 40
	if r := []rune(s); len(r) > limit {
		return fmt.Sprintf("%q…", string(r[:limit]))
	}
	return fmt.Sprintf("%q", s)
}

// FunctionByTool returns the function that calls the server's tool name.
func (m *Manifest) FunctionByTool(tool string) (*Function, bool) {
	for _, f := range m.Functions {
		if f.Tool == tool {
			return f, true
		}
	}
	return nil, false
}
