package apps

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/specs"
)

// MaxToolsBytes bounds the canonical tools/list kept as a pin.
const MaxToolsBytes = 1 << 20

// canonTool is one tool in the pinned form: every member present, schemas
// re-encoded with sorted keys and numbers as written.
type canonTool struct {
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"inputSchema"`
	OutputSchema json.RawMessage `json:"outputSchema"`
	// Omitted when absent, so a pin taken before they were read stays
	// the same for a server that sends none of them.
	Title       string                   `json:"title,omitempty"`
	Annotations *sandbox.ToolAnnotations `json:"annotations,omitempty"`
	TaskSupport string                   `json:"taskSupport,omitempty"`
}

// CanonicalTools returns the pinned encoding of a tools/list: tools sorted
// by name, every schema in canonical JSON. Any change to a name, a
// description or a schema changes it; the order the server listed them in
// and its white space do not.
func CanonicalTools(tools []sandbox.Tool) ([]byte, error) {
	out := make([]canonTool, 0, len(tools))
	for _, t := range tools {
		in, err := canonJSON(t.InputSchema)
		if err != nil {
			return nil, fmt.Errorf("tool %q: inputSchema: %w", short(t.Name), err)
		}
		outSchema, err := canonJSON(t.OutputSchema)
		if err != nil {
			return nil, fmt.Errorf("tool %q: outputSchema: %w", short(t.Name), err)
		}
		out = append(out, canonTool{Name: t.Name, Description: t.Description, InputSchema: in, OutputSchema: outSchema,
			Title: t.Title, Annotations: t.Annotations, TaskSupport: t.TaskSupport})
	}
	slices.SortFunc(out, func(a, b canonTool) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(out); i++ {
		if out[i].Name == out[i-1].Name {
			return nil, fmt.Errorf("tool %q listed twice", short(out[i].Name))
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > MaxToolsBytes {
		return nil, fmt.Errorf("tools/list is %d bytes in canonical form, limit %d", len(b), MaxToolsBytes)
	}
	return b, nil
}

// canonJSON re-encodes JSON with object keys sorted (encoding/json sorts
// map keys) and numbers kept as written; absent is null.
func canonJSON(raw json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return json.RawMessage("null"), nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ToolsHash is the hex SHA-256 of CanonicalTools.
func ToolsHash(tools []sandbox.Tool) (string, error) {
	b, err := CanonicalTools(tools)
	if err != nil {
		return "", err
	}
	return hashOf(b), nil
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ToolCheck is the outcome of comparing a server's tools/list with its pin.
type ToolCheck struct {
	// Hash is the hash of the tools the server reported now.
	Hash string
	// FirstPin is true when there was no pin yet and these tools are now
	// pinned.
	FirstPin bool
	// Changed is true when the tools differ from the pin; Changes says how,
	// in the hub's words with tool names quoted.
	Changed bool
	Changes []string
	// Missing lists functions the manifest declares that the server does
	// not offer.
	Missing []string
}

// CheckTools compares what an MCP app's server reports with its pin. At
// the first start there is no pin, and the tools are pinned now.
func (r *Registry) CheckTools(app string, tools []sandbox.Tool) (ToolCheck, error) {
	canon, err := CanonicalTools(tools)
	if err != nil {
		return ToolCheck{}, fmt.Errorf("check tools of %s: %w", app, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, err := r.record(app)
	if err != nil {
		return ToolCheck{}, fmt.Errorf("check tools: %w", err)
	}
	a, err := fromRecord(rec)
	if err != nil {
		return ToolCheck{}, fmt.Errorf("check tools: %w", err)
	}
	chk := ToolCheck{Hash: hashOf(canon), Missing: missing(a.Manifest, tools)}
	switch {
	case rec.ToolsHash == "":
		rec.ToolsHash, rec.Tools = chk.Hash, canon
		if err := r.st.PutManifest(rec); err != nil {
			return ToolCheck{}, fmt.Errorf("pin tools of %s: %w", app, err)
		}
		chk.FirstPin = true
	case rec.ToolsHash != chk.Hash:
		chk.Changed = true
		chk.Changes = diffTools(rec.Tools, canon)
	}
	return chk, nil
}

// Repin pins tools the user approved. hash must be the hash CheckTools
// reported for them: tools that changed again in between are not pinned.
func (r *Registry) Repin(app string, tools []sandbox.Tool, hash string) error {
	canon, err := CanonicalTools(tools)
	if err != nil {
		return fmt.Errorf("repin %s: %w", app, err)
	}
	if hashOf(canon) != hash {
		return fmt.Errorf("repin %s: the tools are not the ones the user approved: %w", app, ErrPin)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, err := r.record(app)
	if err != nil {
		return fmt.Errorf("repin: %w", err)
	}
	rec.ToolsHash, rec.Tools = hash, canon
	if err := r.st.PutManifest(rec); err != nil {
		return fmt.Errorf("repin %s: %w", app, err)
	}
	return nil
}

// PinnedTools returns an app's pinned tools/list (nil before its first
// start).
func (r *Registry) PinnedTools(app string) ([]sandbox.Tool, error) {
	rec, err := r.record(app)
	if err != nil {
		return nil, err
	}
	if len(rec.Tools) == 0 {
		return nil, nil
	}
	var ts []canonTool
	if err := json.Unmarshal(rec.Tools, &ts); err != nil {
		return nil, fmt.Errorf("pinned tools of %s: %w", app, err)
	}
	out := make([]sandbox.Tool, 0, len(ts))
	for _, t := range ts {
		tool := sandbox.Tool{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema, OutputSchema: t.OutputSchema,
			Title: t.Title, Annotations: t.Annotations, TaskSupport: t.TaskSupport}
		if string(tool.OutputSchema) == "null" {
			tool.OutputSchema = nil
		}
		out = append(out, tool)
	}
	return out, nil
}

func missing(m *specs.Manifest, tools []sandbox.Tool) []string {
	var out []string
	for _, f := range m.Functions {
		if !slices.ContainsFunc(tools, func(t sandbox.Tool) bool { return t.Name == f.Tool }) {
			out = append(out, f.Name)
		}
	}
	return out
}

// diffTools says, in the hub's words, how two canonical tools/lists
// differ: tools added, removed, and which parts of a tool changed.
func diffTools(oldRaw, newRaw []byte) []string {
	var oldT, newT []canonTool
	if json.Unmarshal(oldRaw, &oldT) != nil {
		return []string{"the pinned tools/list cannot be read; every tool is treated as changed"}
	}
	_ = json.Unmarshal(newRaw, &newT) // produced by CanonicalTools
	byName := func(ts []canonTool) map[string]canonTool {
		m := make(map[string]canonTool, len(ts))
		for _, t := range ts {
			m[t.Name] = t
		}
		return m
	}
	om, nm := byName(oldT), byName(newT)
	var added, removed, changed []string
	for _, t := range newT {
		o, ok := om[t.Name]
		if !ok {
			added = append(added, quote(t.Name))
			continue
		}
		var parts []string
		if o.Description != t.Description {
			parts = append(parts, "description")
		}
		if !bytes.Equal(o.InputSchema, t.InputSchema) {
			parts = append(parts, "input schema")
		}
		if !bytes.Equal(o.OutputSchema, t.OutputSchema) {
			parts = append(parts, "output schema")
		}
		if o.Title != t.Title {
			parts = append(parts, "title")
		}
		if !reflect.DeepEqual(o.Annotations, t.Annotations) {
			parts = append(parts, "annotations")
		}
		if o.TaskSupport != t.TaskSupport {
			parts = append(parts, "task support")
		}
		if len(parts) > 0 {
			changed = append(changed, fmt.Sprintf("%s (%s)", quote(t.Name), strings.Join(parts, ", ")))
		}
	}
	for _, t := range oldT {
		if _, ok := nm[t.Name]; !ok {
			removed = append(removed, quote(t.Name))
		}
	}
	var out []string
	if len(added) > 0 {
		out = append(out, "added: "+join(added))
	}
	if len(removed) > 0 {
		out = append(out, "removed: "+join(removed))
	}
	if len(changed) > 0 {
		out = append(out, "changed: "+join(changed))
	}
	return out
}

// join lists at most a screenful of names, then counts the rest.
func join(names []string) string {
	const limit = 12
	if len(names) <= limit {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:limit], ", "), len(names)-limit)
}

// quote shows an app-authored tool name quoted and cut short.
func quote(s string) string { return fmt.Sprintf("%q", short(s)) }

func short(s string) string {
	const limit = 48
	if r := []rune(s); len(r) > limit {
		return string(r[:limit]) + "…"
	}
	return s
}
