package wire

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/isolategpt/isolategpt/sandbox"
)

// ProtocolVersion is the MCP revision whose shapes this package speaks.
const ProtocolVersion = "2025-06-18"

// MCP method names.
const (
	MethodInitialize  = "initialize"
	MethodInitialized = "notifications/initialized"
	MethodPing        = "ping"
	MethodToolsList   = "tools/list"
	MethodToolsCall   = "tools/call"
)

// Bounds on what a peer's initialize reply may carry: short identifiers,
// not essays.
const (
	maxVersionBytes = 64
	maxInfoBytes    = 256
)

// Implementation names a client or server and its version.
type Implementation struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ClientCapabilities are the optional features a client offers: the hub
// offers roots (the app's own folder), sampling (on the app's own model)
// and elicitation (asked of the user), each answered under the same
// permission model as everything else.
type ClientCapabilities struct {
	Roots       *struct{} `json:"roots,omitempty"`
	Sampling    *struct{} `json:"sampling,omitempty"`
	Elicitation *struct{} `json:"elicitation,omitempty"`
}

// ToolsCapability says a server has tools.
type ToolsCapability struct {
	ListChanged bool `json:"listChanged,omitempty"`
}

// ServerCapabilities are the features a server offers, as far as the hub
// reads them.
type ServerCapabilities struct {
	Tools *ToolsCapability `json:"tools,omitempty"`
}

// InitializeParams open an MCP session.
type InitializeParams struct {
	ProtocolVersion string             `json:"protocolVersion"`
	Capabilities    ClientCapabilities `json:"capabilities"`
	ClientInfo      Implementation     `json:"clientInfo"`
}

// InitializeResult is the server's side of the handshake.
type InitializeResult struct {
	ProtocolVersion string             `json:"protocolVersion"`
	Capabilities    ServerCapabilities `json:"capabilities"`
	ServerInfo      Implementation     `json:"serverInfo"`
	Instructions    string             `json:"instructions,omitempty"`
}

// ListToolsParams ask for one page of tools.
type ListToolsParams struct {
	Cursor string `json:"cursor,omitempty"`
}

// ListToolsResult is one page of tools. sandbox.Tool carries MCP's member
// names.
type ListToolsResult struct {
	Tools      []sandbox.Tool `json:"tools"`
	NextCursor string         `json:"nextCursor,omitempty"`
}

// CallToolParams run one tool.
type CallToolParams struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Meta      *CallMeta       `json:"_meta,omitempty"`
}

// CallMeta asks for progress reports under a token.
type CallMeta struct {
	ProgressToken string `json:"progressToken,omitempty"`
}

// Content is one item of a tool's unstructured result. This package writes
// and reads only the "text" type; other types are skipped when read.
type Content struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// ContentText is the Content type of text items.
const ContentText = "text"

// CallToolResult is a tool's result. IsError marks the tool's own failure,
// whose text is in Content.
type CallToolResult struct {
	Content           []Content       `json:"content"`
	StructuredContent json.RawMessage `json:"structuredContent,omitempty"`
	IsError           bool            `json:"isError,omitempty"`
}

// Initialize performs the MCP handshake on c: it sends initialize, checks
// the reply (a protocol version and a server name, both non-empty short
// strings; an object for capabilities, if any) and then sends
// notifications/initialized.
func Initialize(ctx context.Context, c *Client, clientName, clientVersion string) (*InitializeResult, error) {
	params := InitializeParams{
		ProtocolVersion: ProtocolVersion,
		ClientInfo:      Implementation{Name: clientName, Version: clientVersion},
		Capabilities:    ClientCapabilities{Sampling: &struct{}{}, Elicitation: &struct{}{}},
	}
	if !c.opts.NoRoots {
		params.Capabilities.Roots = &struct{}{}
	}
	var raw json.RawMessage
	if err := c.Call(ctx, MethodInitialize, params, &raw); err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	res, err := parseInitializeResult(raw)
	if err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	if err := c.Notify(ctx, MethodInitialized, nil); err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	return res, nil
}

func parseInitializeResult(raw json.RawMessage) (*InitializeResult, error) {
	o, err := parseObject(raw, "result")
	if err != nil {
		return nil, err
	}
	res := &InitializeResult{}
	if res.ProtocolVersion, err = o.str("protocolVersion", true, maxVersionBytes); err != nil {
		return nil, err
	}
	if res.ProtocolVersion == "" {
		return nil, fmt.Errorf("%w: empty protocolVersion", ErrProtocol)
	}
	if res.Instructions, err = o.str("instructions", false, -1); err != nil {
		return nil, err
	}
	info, err := o.obj("serverInfo", true)
	if err != nil {
		return nil, err
	}
	si, err := parseObject(info, "serverInfo")
	if err != nil {
		return nil, err
	}
	if res.ServerInfo.Name, err = si.str("name", true, maxInfoBytes); err != nil {
		return nil, err
	}
	if res.ServerInfo.Name == "" {
		return nil, fmt.Errorf("%w: empty serverInfo.name", ErrProtocol)
	}
	if res.ServerInfo.Version, err = si.str("version", false, maxInfoBytes); err != nil {
		return nil, err
	}
	caps, err := o.obj("capabilities", false)
	if err != nil || caps == nil {
		return res, err
	}
	co, err := parseObject(caps, "capabilities")
	if err != nil {
		return nil, err
	}
	tools, err := co.obj("tools", false)
	if err != nil || tools == nil {
		return res, err
	}
	to, err := parseObject(tools, "capabilities.tools")
	if err != nil {
		return nil, err
	}
	res.Capabilities.Tools = &ToolsCapability{}
	if res.Capabilities.Tools.ListChanged, err = to.boolean("listChanged"); err != nil {
		return nil, err
	}
	return res, nil
}

// object is a JSON object from the peer, read by exact member names.
// encoding/json would match struct fields case-insensitively, letting
// "IsError" or "iſError" stand in for "isError"; reading members out of a
// map cannot. Duplicate keys were refused by the Decoder already.
type object struct {
	what   string
	fields map[string]json.RawMessage
}

func parseObject(raw json.RawMessage, what string) (object, error) {
	o := object{what: what}
	if !isObject(raw) {
		return o, fmt.Errorf("%w: %s is not an object", ErrProtocol, what)
	}
	if err := json.Unmarshal(raw, &o.fields); err != nil {
		return o, fmt.Errorf("%w: %s: %v", ErrProtocol, what, err)
	}
	return o, nil
}

// get returns a member, treating null as absent: null carries nothing.
func (o object) get(key string, required bool) (json.RawMessage, error) {
	v, ok := o.fields[key]
	if !ok || string(v) == "null" {
		if required {
			return nil, fmt.Errorf("%w: %s has no %s", ErrProtocol, o.what, key)
		}
		return nil, nil
	}
	return v, nil
}

// str reads a string member of at most max bytes (max < 0: no bound).
func (o object) str(key string, required bool, max int) (string, error) {
	v, err := o.get(key, required)
	if err != nil || v == nil {
		return "", err
	}
	var s string
	if !isString(v) || json.Unmarshal(v, &s) != nil {
		return "", fmt.Errorf("%w: %s.%s is not a string", ErrProtocol, o.what, key)
	}
	if max >= 0 && len(s) > max {
		return "", fmt.Errorf("%w: %s.%s is longer than %d bytes", ErrProtocol, o.what, key, max)
	}
	return s, nil
}

func (o object) boolean(key string) (bool, error) {
	v, err := o.get(key, false)
	if err != nil || v == nil {
		return false, err
	}
	switch string(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%w: %s.%s is not a boolean", ErrProtocol, o.what, key)
}

func (o object) obj(key string, required bool) (json.RawMessage, error) {
	v, err := o.get(key, required)
	if err != nil || v == nil {
		return nil, err
	}
	if !isObject(v) {
		return nil, fmt.Errorf("%w: %s.%s is not an object", ErrProtocol, o.what, key)
	}
	return v, nil
}

func (o object) array(key string, required bool) ([]json.RawMessage, error) {
	v, err := o.get(key, required)
	if err != nil || v == nil {
		return nil, err
	}
	var items []json.RawMessage
	if len(v) == 0 || v[0] != '[' || json.Unmarshal(v, &items) != nil {
		return nil, fmt.Errorf("%w: %s.%s is not an array", ErrProtocol, o.what, key)
	}
	return items, nil
}
