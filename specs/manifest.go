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
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/specs/schema"
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

// Function returns the function with the given name.
func (m *Manifest) Function(name string) (*Function, bool) {
	for _, f := range m.Functions {
		if f.Name == name {
			return f, true
		}
	}
	return nil, false
}

// canonManifest is a manifest as JSON: what Parse decodes (the omitempty
// options matter only to the encoding), and with Raw's sorting and
// canonical schemas its canonical encoding.
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
