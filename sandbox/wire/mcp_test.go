package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/isolategpt/isolategpt/sandbox"
)

var weatherTools = []sandbox.Tool{
	{Name: "forecast", Description: "Weather for a city.",
		InputSchema:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`),
		OutputSchema: json.RawMessage(`{"type":"object","properties":{"temp":{"type":"number"}}}`)},
	{Name: "fail", InputSchema: json.RawMessage(`{"type":"object"}`)},
	{Name: "crash"},
	{Name: "scalar", InputSchema: json.RawMessage(`{"type":"object"}`)},
}

func weatherApp(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	switch name {
	case "forecast":
		var in struct{ City string }
		if err := json.Unmarshal(args, &in); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"city": in.City, "temp": 21.5})
	case "fail":
		return nil, &sandbox.ToolError{Message: "no such city"}
	case "crash":
		return nil, errors.New("open /secret/path: permission denied")
	}
	return json.RawMessage(`[1,2]`), nil
}

func TestToolServerRoundTrip(t *testing.T) {
	var notes []string
	srv := NewToolServer(weatherTools, weatherApp)
	seen := make(chan string, 4)
	h := HandlerFunc(func(ctx context.Context, method string, params json.RawMessage) (any, error) {
		if strings.HasPrefix(method, "notifications/") {
			seen <- method
		}
		return srv.Handle(ctx, method, params)
	})
	c := connect(t, h, Options{})
	res, err := Initialize(t.Context(), c, "isolategpt-hub", "0.1")
	if err != nil {
		t.Fatal(err)
	}
	want := &InitializeResult{
		ProtocolVersion: ProtocolVersion,
		Capabilities:    ServerCapabilities{Tools: &ToolsCapability{}},
		ServerInfo:      Implementation{Name: ToolServerName, Version: ToolServerVersion},
	}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("Initialize = %+v, want %+v", res, want)
	}
	select {
	case m := <-seen:
		notes = append(notes, m)
	case <-time.After(wait):
		t.Fatal("the worker never saw notifications/initialized")
	}
	if notes[0] != MethodInitialized {
		t.Fatalf("notifications = %q", notes)
	}

	conn := NewConn(c)
	tools, err := conn.ListTools(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	wantTools := append([]sandbox.Tool(nil), weatherTools...)
	wantTools[2].InputSchema = json.RawMessage(`{"type":"object"}`) // MCP requires a schema
	if !reflect.DeepEqual(tools, wantTools) {
		t.Fatalf("ListTools =\n%+v\nwant\n%+v", tools, wantTools)
	}

	out, err := conn.CallTool(t.Context(), "forecast", json.RawMessage(`{"city":"Paris"}`))
	if err != nil || string(out) != `{"city":"Paris","temp":21.5}` {
		t.Fatalf("CallTool forecast = %s, %v", out, err)
	}
	for _, tc := range []struct {
		tool    string
		message string
	}{
		{"fail", "no such city"},
		{"crash", "internal error"},
		{"scalar", "internal error"},
	} {
		t.Run(tc.tool, func(t *testing.T) {
			out, err := conn.CallTool(t.Context(), tc.tool, json.RawMessage(`{}`))
			var te *sandbox.ToolError
			if !errors.As(err, &te) || te.Message != tc.message {
				t.Fatalf("CallTool = %s, %v; want ToolError %q", out, err, tc.message)
			}
		})
	}
	_, err = conn.CallTool(t.Context(), "undeclared", nil)
	var re *RPCError
	var te *sandbox.ToolError
	if !errors.As(err, &re) || re.Code != CodeInvalidParams || errors.As(err, &te) {
		t.Fatalf("unknown tool: %v, want RPCError %d", err, CodeInvalidParams)
	}
	if err := c.Call(t.Context(), "resources/list", nil, nil); !errors.As(err, &re) || re.Code != CodeMethodNotFound {
		t.Fatalf("unknown method: %v", err)
	}

	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ListTools(t.Context()); !errors.Is(err, sandbox.ErrClosed) {
		t.Fatalf("ListTools after Close: %v", err)
	}
	if _, err := conn.CallTool(t.Context(), "forecast", nil); !errors.Is(err, sandbox.ErrClosed) {
		t.Fatalf("CallTool after Close: %v", err)
	}
}

// fakeMCP answers each method with a fixed raw result, or with what the
// function for it returns.
type fakeMCP map[string]func(params json.RawMessage) (json.RawMessage, error)

func (f fakeMCP) Handle(ctx context.Context, method string, params json.RawMessage) (any, error) {
	if fn, ok := f[method]; ok {
		return fn(params)
	}
	return nil, nil
}

func fixed(raw string) func(json.RawMessage) (json.RawMessage, error) {
	return func(json.RawMessage) (json.RawMessage, error) { return json.RawMessage(raw), nil }
}

func TestInitializeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		result string
	}{
		{"no protocol version", `{"capabilities":{},"serverInfo":{"name":"x","version":"1"}}`},
		{"empty protocol version", `{"protocolVersion":"","capabilities":{},"serverInfo":{"name":"x","version":"1"}}`},
		{"protocol version not a string", `{"protocolVersion":20250618,"serverInfo":{"name":"x","version":"1"}}`},
		{"protocol version too long", `{"protocolVersion":"` + strings.Repeat("9", 65) + `","serverInfo":{"name":"x"}}`},
		{"no server info", `{"protocolVersion":"2025-06-18","capabilities":{}}`},
		{"server info null", `{"protocolVersion":"2025-06-18","serverInfo":null}`},
		{"server info not an object", `{"protocolVersion":"2025-06-18","serverInfo":"x"}`},
		{"server info case-folded", `{"protocolVersion":"2025-06-18","ServerInfo":{"name":"x"}}`},
		{"server name missing", `{"protocolVersion":"2025-06-18","serverInfo":{"version":"1"}}`},
		{"server name empty", `{"protocolVersion":"2025-06-18","serverInfo":{"name":""}}`},
		{"server name too long", `{"protocolVersion":"2025-06-18","serverInfo":{"name":"` + strings.Repeat("n", 257) + `"}}`},
		{"capabilities not an object", `{"protocolVersion":"2025-06-18","capabilities":[],"serverInfo":{"name":"x"}}`},
		{"result not an object", `"ok"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			notified := make(chan string, 1)
			f := fakeMCP{
				MethodInitialize: fixed(tc.result),
				MethodInitialized: func(json.RawMessage) (json.RawMessage, error) {
					notified <- MethodInitialized
					return nil, nil
				},
			}
			c := connect(t, f, Options{})
			res, err := Initialize(t.Context(), c, "hub", "1")
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("Initialize = %+v, %v; want ErrProtocol", res, err)
			}
			// Nothing else goes out after a bad handshake. The call
			// below is ordered after anything Initialize sent.
			_ = c.Call(t.Context(), MethodPing, nil, nil)
			select {
			case <-notified:
				t.Fatal("notifications/initialized sent after a bad reply")
			default:
			}
		})
	}
}

func TestCallToolResults(t *testing.T) {
	long := strings.Repeat("é", 3000) // 6000 bytes
	for _, tc := range []struct {
		name      string
		result    string
		want      string // the returned JSON, if any
		toolError string // the ToolError message, if any
		protocol  bool   // an ErrProtocol error
	}{
		{name: "structured content", result: `{"content":[{"type":"text","text":"ignored"}],"structuredContent":{"temp":21}}`, want: `{"temp":21}`},
		{name: "structured content wins over text", result: `{"content":[{"type":"text","text":"{\"a\":1}"}],"structuredContent":{"b":2}}`, want: `{"b":2}`},
		{name: "structured content array", result: `{"content":[],"structuredContent":[1]}`, protocol: true},
		{name: "structured content string", result: `{"content":[],"structuredContent":"{}"}`, protocol: true},
		{name: "structured content null", result: `{"content":[{"type":"text","text":"hi"}],"structuredContent":null}`, want: `{"text":"hi"}`},
		{name: "one JSON text", result: `{"content":[{"type":"text","text":" {\"a\": [1, 2]} "}]}`, want: `{"a":[1,2]}`},
		{name: "one JSON text with a duplicate key", result: `{"content":[{"type":"text","text":"{\"a\":1,\"a\":2}"}]}`, want: `{"text":"{\"a\":1,\"a\":2}"}`},
		{name: "one JSON text not an object", result: `{"content":[{"type":"text","text":"[1]"}]}`, want: `{"text":"[1]"}`},
		{name: "two texts", result: `{"content":[{"type":"text","text":"{}"},{"type":"text","text":"b"}]}`, want: `{"text":"{}\nb"}`},
		{name: "other content skipped", result: `{"content":[{"type":"image","data":"AAAA","mimeType":"image/png"},{"type":"text","text":"x"}]}`, want: `{"text":"x"}`},
		{name: "no content", result: `{"content":[]}`, want: `{"text":""}`},
		{name: "isError", result: `{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"isError":true,"structuredContent":{"x":1}}`, toolError: "a\nb"},
		{name: "isError without text", result: `{"content":[],"isError":true}`, toolError: "tool failed without a message"},
		{name: "isError text capped", result: `{"content":[{"type":"text","text":"` + long + `"}],"isError":true}`, toolError: long[:MaxToolErrorBytes]},
		{name: "case-folded isError is not isError", result: `{"content":[],"IsError":true,"structuredContent":{"ok":true}}`, want: `{"ok":true}`},
		{name: "isError not a boolean", result: `{"content":[],"isError":"true"}`, protocol: true},
		{name: "content not an array", result: `{"content":{"type":"text"}}`, protocol: true},
		{name: "content item not an object", result: `{"content":["x"]}`, protocol: true},
		{name: "content item without type", result: `{"content":[{"text":"x"}]}`, protocol: true},
		{name: "text item without text", result: `{"content":[{"type":"text"}]}`, protocol: true},
		{name: "result not an object", result: `[]`, protocol: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got CallToolParams
			c := connect(t, fakeMCP{MethodToolsCall: func(p json.RawMessage) (json.RawMessage, error) {
				if err := json.Unmarshal(p, &got); err != nil {
					return nil, err
				}
				return json.RawMessage(tc.result), nil
			}}, Options{})
			out, err := NewConn(c).CallTool(t.Context(), "t", json.RawMessage(`{"q":1}`))
			if got.Name != "t" || string(got.Arguments) != `{"q":1}` {
				t.Errorf("worker got %+v", got)
			}
			switch {
			case tc.protocol:
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("CallTool = %s, %v; want ErrProtocol", out, err)
				}
			case tc.toolError != "":
				var te *sandbox.ToolError
				if !errors.As(err, &te) || te.Message != tc.toolError {
					t.Fatalf("CallTool = %s, %v; want ToolError %.40q", out, err, tc.toolError)
				}
				if len(te.Message) > MaxToolErrorBytes || !utf8.ValidString(te.Message) {
					t.Fatalf("ToolError message: %d bytes, valid UTF-8 %v", len(te.Message), utf8.ValidString(te.Message))
				}
			default:
				if err != nil || string(out) != tc.want {
					t.Fatalf("CallTool = %s, %v; want %s", out, err, tc.want)
				}
			}
		})
	}
}

// pagedTools serves n tools, size to a page.
func pagedTools(n, size int) fakeMCP {
	return fakeMCP{MethodToolsList: func(p json.RawMessage) (json.RawMessage, error) {
		var params ListToolsParams
		if err := json.Unmarshal(p, &params); err != nil {
			return nil, err
		}
		start := 0
		if params.Cursor != "" {
			if _, err := fmt.Sscanf(params.Cursor, "from-%d", &start); err != nil {
				return nil, &RPCError{Code: CodeInvalidParams, Message: "bad cursor"}
			}
		}
		res := ListToolsResult{Tools: []sandbox.Tool{}}
		for i := start; i < min(n, start+size); i++ {
			res.Tools = append(res.Tools, sandbox.Tool{Name: fmt.Sprintf("t%d", i), InputSchema: json.RawMessage(`{"type":"object"}`)})
		}
		if start+size < n {
			res.NextCursor = fmt.Sprintf("from-%d", start+size)
		}
		return json.Marshal(res)
	}}
}

func TestListToolsFollowsPages(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n, size int
		err     bool
	}{
		{"one page", 3, 10, false},
		{"several pages", 25, 10, false},
		{"exactly the cap", MaxTools, 300, false},
		{"one past the cap in one page", MaxTools + 1, MaxTools + 1, true},
		{"one past the cap across pages", MaxTools + 1, 300, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tools, err := NewConn(connect(t, pagedTools(tc.n, tc.size), Options{})).ListTools(t.Context())
			if tc.err {
				if !errors.Is(err, ErrProtocol) || tools != nil {
					t.Fatalf("ListTools = %d tools, %v; want ErrProtocol", len(tools), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tools) != tc.n {
				t.Fatalf("%d tools, want %d", len(tools), tc.n)
			}
			for i, tool := range tools {
				if tool.Name != fmt.Sprintf("t%d", i) {
					t.Fatalf("tool %d is %q", i, tool.Name)
				}
			}
		})
	}
}

func TestListToolsRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		result func(json.RawMessage) (json.RawMessage, error)
	}{
		{"endless empty pages", fixed(`{"tools":[],"nextCursor":"again"}`)},
		{"tools missing", fixed(`{"nextCursor":""}`)},
		{"tools not an array", fixed(`{"tools":{}}`)},
		{"tool without a name", fixed(`{"tools":[{"inputSchema":{}}]}`)},
		{"tool with an empty name", fixed(`{"tools":[{"name":"","inputSchema":{}}]}`)},
		{"tool without an input schema", fixed(`{"tools":[{"name":"a"}]}`)},
		{"input schema not an object", fixed(`{"tools":[{"name":"a","inputSchema":true}]}`)},
		{"output schema not an object", fixed(`{"tools":[{"name":"a","inputSchema":{},"outputSchema":"x"}]}`)},
		{"description not a string", fixed(`{"tools":[{"name":"a","description":1,"inputSchema":{}}]}`)},
		{"same name twice", fixed(`{"tools":[{"name":"a","inputSchema":{}},{"name":"a","inputSchema":{}}]}`)},
		{"cursor not a string", fixed(`{"tools":[],"nextCursor":7}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tools, err := NewConn(connect(t, fakeMCP{MethodToolsList: tc.result}, Options{})).ListTools(t.Context())
			if !errors.Is(err, ErrProtocol) || tools != nil {
				t.Fatalf("ListTools = %+v, %v; want ErrProtocol", tools, err)
			}
		})
	}
}
