package attackapps

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/isolategpt/isolategpt/sandbox/wire"
	"github.com/isolategpt/isolategpt/specs"
)

// CallsFile, in the app's data folder, counts the calls of each function
// across the app's instances, so that a sequence goes on where the last
// instance (a crashed worker, an earlier session) left it.
const CallsFile = "scenario_app_calls.json"

// server is the MCP server side of a scenario app, the same in-process and
// in the sandbox: tools/list as the spec says, tools/call answered by the
// function's behaviour.
type server struct {
	m     *specs.Manifest
	spec  Spec
	tools []json.RawMessage
	dir   string
	// crash makes the app die without answering.
	crash func()
	mu    sync.Mutex
}

func newServer(spec Spec, dir string, crash func()) (*server, error) {
	m, err := specs.Parse(spec.Manifest)
	if err != nil {
		return nil, fmt.Errorf("scenario app: %w", err)
	}
	s := &server{m: m, spec: spec, dir: dir, crash: crash}
	if len(spec.MCPTools) > 0 {
		s.tools = spec.MCPTools
		return s, nil
	}
	for _, f := range m.Functions {
		t := map[string]any{"name": f.Name, "inputSchema": f.Input, "outputSchema": f.Output}
		if f.Description != "" {
			t["description"] = f.Description
		}
		b, err := json.Marshal(t)
		if err != nil {
			return nil, fmt.Errorf("scenario app %s: %w", m.ID, err)
		}
		s.tools = append(s.tools, b)
	}
	return s, nil
}

// Handle answers one MCP request.
func (s *server) Handle(ctx context.Context, method string, params json.RawMessage) (any, error) {
	switch {
	case method == wire.MethodInitialize:
		return wire.InitializeResult{
			ProtocolVersion: wire.ProtocolVersion,
			Capabilities:    wire.ServerCapabilities{Tools: &wire.ToolsCapability{}},
			ServerInfo:      wire.Implementation{Name: "scenario-" + s.m.ID, Version: s.m.Version},
		}, nil
	case method == wire.MethodPing:
		return struct{}{}, nil
	case method == wire.MethodToolsList:
		return map[string]any{"tools": s.tools}, nil
	case method == wire.MethodToolsCall:
		var p struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if err := json.Unmarshal(params, &p); err != nil {
			return nil, &wire.RPCError{Code: wire.CodeInvalidParams, Message: err.Error()}
		}
		return s.call(ctx, p.Name, p.Arguments)
	case strings.HasPrefix(method, "notifications/"):
		return nil, nil
	}
	return nil, &wire.RPCError{Code: wire.CodeMethodNotFound, Message: "method not found"}
}

// call answers one call. It does not check the arguments: an attacker's
// app need not, and a fixture's answers do not depend on them but for By.
func (s *server) call(ctx context.Context, name string, args json.RawMessage) (any, error) {
	if _, ok := s.m.Function(name); !ok {
		return failure(fmt.Sprintf("%s has no function %q", s.m.ID, name)), nil
	}
	b, ok := s.spec.Functions[name]
	if !ok {
		return failure(fmt.Sprintf("%s.%s: no answer scripted", s.m.ID, name)), nil
	}
	if len(b.Sequence) > 0 {
		n := s.count(name)
		b = b.Sequence[min(n, len(b.Sequence)-1)]
	}
	if b.DelayMs > 0 {
		select {
		case <-time.After(time.Duration(b.DelayMs) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	switch {
	case b.Hang:
		<-ctx.Done()
		return nil, ctx.Err()
	case b.Crash:
		s.crash()
		<-ctx.Done()
		return nil, ctx.Err()
	case len(b.MCPResult) > 0:
		return json.RawMessage(bytes.Clone(b.MCPResult)), nil
	case b.Error != "":
		return failure(b.Error), nil
	}
	out := b.Output
	if b.By != "" {
		var in map[string]any
		if json.Unmarshal(args, &in) == nil {
			if o, ok := b.Outputs[fmt.Sprint(in[b.By])]; ok {
				out = o
			}
		}
	}
	if b.Oversize > 0 {
		// One text item holding the JSON, as many servers send: the
		// answer crosses the wire once.
		field, _ := json.Marshal(strings.Repeat("A", b.Oversize) + b.Tail)
		return wire.CallToolResult{Content: []wire.Content{{Type: wire.ContentText, Text: `{"text":` + string(field) + `}`}}}, nil
	}
	return wire.CallToolResult{Content: []wire.Content{{Type: wire.ContentText, Text: string(out)}}, StructuredContent: bytes.Clone(out)}, nil
}

func failure(msg string) wire.CallToolResult {
	return wire.CallToolResult{Content: []wire.Content{{Type: wire.ContentText, Text: msg}}, IsError: true}
}

// count returns how many times the function was called before, and
// counts this call.
func (s *server) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := filepath.Join(s.dir, CallsFile)
	counts := map[string]int{}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &counts)
	}
	n := counts[name]
	counts[name] = n + 1
	b, _ := json.Marshal(counts)
	_ = os.WriteFile(path, b, 0o600)
	return n
}
