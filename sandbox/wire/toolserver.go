package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/isolategpt/isolategpt/sandbox"
)

// The serverInfo a tool server reports.
const (
	ToolServerName    = "isolategpt-worker"
	ToolServerVersion = "1"
)

// emptySchema stands in for a tool declared without an input schema: MCP
// requires one, and a tool without one takes no arguments.
var emptySchema = json.RawMessage(`{"type":"object"}`)

// NewToolServer returns the worker side of MCP for a built-in app: it
// answers initialize, ping, tools/list (all tools, one page) and tools/call,
// which runs call. A JSON object result is sent as structuredContent and as
// one text item holding the same JSON; a *sandbox.ToolError as isError with
// its message; any other error, or a result that is not an object, as
// isError with "internal error", so no detail of the worker's own failure
// reaches the hub as if the app had said it. Other methods are answered
// with CodeMethodNotFound; notifications are ignored.
func NewToolServer(tools []sandbox.Tool, call func(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error)) Handler {
	s := &toolServer{known: map[string]bool{}, call: call}
	for _, t := range tools {
		t.InputSchema = bytes.Clone(t.InputSchema)
		if len(t.InputSchema) == 0 {
			t.InputSchema = emptySchema
		}
		t.OutputSchema = bytes.Clone(t.OutputSchema)
		s.tools = append(s.tools, t)
		s.known[t.Name] = true
	}
	if s.tools == nil {
		s.tools = []sandbox.Tool{} // "tools": [], never null
	}
	return s
}

type toolServer struct {
	tools []sandbox.Tool
	known map[string]bool
	call  func(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error)
}

func (s *toolServer) Handle(ctx context.Context, method string, params json.RawMessage) (any, error) {
	switch {
	case method == MethodInitialize:
		return s.initialize(params)
	case method == MethodPing:
		return struct{}{}, nil
	case method == MethodToolsList:
		return ListToolsResult{Tools: s.tools}, nil
	case method == MethodToolsCall:
		return s.callTool(ctx, params)
	case strings.HasPrefix(method, "notifications/"):
		return nil, nil
	}
	return nil, &RPCError{Code: CodeMethodNotFound, Message: "method not found"}
}

func (s *toolServer) initialize(params json.RawMessage) (any, error) {
	o, err := parseObject(params, "params")
	if err != nil {
		return nil, invalidParams(err)
	}
	if _, err := o.str("protocolVersion", true, maxVersionBytes); err != nil {
		return nil, invalidParams(err)
	}
	// Whatever the client asked for, this is the revision spoken here;
	// MCP leaves it to the client to hang up if it cannot speak it.
	return InitializeResult{
		ProtocolVersion: ProtocolVersion,
		Capabilities:    ServerCapabilities{Tools: &ToolsCapability{}},
		ServerInfo:      Implementation{Name: ToolServerName, Version: ToolServerVersion},
	}, nil
}

func (s *toolServer) callTool(ctx context.Context, params json.RawMessage) (any, error) {
	o, err := parseObject(params, "params")
	if err != nil {
		return nil, invalidParams(err)
	}
	name, err := o.str("name", true, -1)
	if err != nil {
		return nil, invalidParams(err)
	}
	if !s.known[name] {
		return nil, &RPCError{Code: CodeInvalidParams, Message: "unknown tool"}
	}
	args, err := o.obj("arguments", false)
	if err != nil {
		return nil, invalidParams(err)
	}
	if args == nil {
		args = json.RawMessage(`{}`)
	}
	out, err := s.call(ctx, name, args)
	if err != nil {
		var te *sandbox.ToolError
		if errors.As(err, &te) {
			return toolFailure(te.Message), nil
		}
		return toolFailure("internal error"), nil
	}
	if checkJSON(out) != nil || firstByte(out) != '{' {
		return toolFailure("internal error"), nil
	}
	out = compact(out)
	return CallToolResult{
		Content:           []Content{{Type: ContentText, Text: string(out)}},
		StructuredContent: out,
	}, nil
}

func toolFailure(msg string) CallToolResult {
	return CallToolResult{Content: []Content{{Type: ContentText, Text: msg}}, IsError: true}
}

func invalidParams(err error) error {
	return &RPCError{Code: CodeInvalidParams, Message: err.Error()}
}
