package wire

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/isolategpt/isolategpt/sandbox"
)

// FuzzClientAgainstHostilePeer lets the fuzzer be the worker. The first
// byte picks what the hub does (call a tool, list tools, or initialize);
// (or call a tool with a Host and a text or structured result);
// the rest is everything the worker writes once it has read the hub's
// first request, after which it hangs up. Whatever it writes, the hub's
// operation must return within the deadline, never panic, and return only
// values that meet the contract.
func FuzzClientAgainstHostilePeer(f *testing.F) {
	for _, s := range []string{
		"\x00" + `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"{\"a\":1}"}]}}` + "\n",
		"\x00" + `{"jsonrpc":"2.0","id":1,"result":{"content":[],"structuredContent":{"t":1}}}` + "\n",
		"\x00" + `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"no"}],"isError":true}}` + "\n",
		"\x00" + `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"unknown tool"}}` + "\n",
		"\x00" + `{"jsonrpc":"2.0","id":"1","method":"sampling/createMessage","params":{}}` + "\n" + `{"jsonrpc":"2.0","id":1,"result":{}}` + "\n",
		"\x00" + `{"jsonrpc":"2.0","id":2,"result":{}}` + "\n",
		"\x00" + `{"jsonrpc":"2.0","id":1,"result":{},"result":[]}` + "\n",
		"\x00" + `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info"}}` + "\n",
		"\x01" + `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","inputSchema":{}}],"nextCursor":"c"}}` + "\n" + `{"jsonrpc":"2.0","id":2,"result":{"tools":[]}}` + "\n",
		"\x01" + `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","inputSchema":{}}]}}` + "\n",
		"\x02" + `{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"w","version":"1"}}}` + "\n",
		"\x02" + `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}` + "\n",
		"\x00", "\x00\n", "\x00{", "\x01[]\n",
		"\x03banner\n" + `{"jsonrpc":"2.0","id":"s","method":"sampling/createMessage","params":{"messages":[{"role":"user","content":{"type":"text","text":"hi"}}]}}` + "\n" + `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p1","progress":1}}` + "\n" + `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"image","data":"AA","mimeType":"image/png"},{"type":"resource_link","uri":"x://y","size":1}]}}` + "\n",
		"\x04" + `{"jsonrpc":"2.0","id":"e","method":"elicitation/create","params":{"message":"m"}}` + "\n" + `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"resource","resource":{"uri":"x://y","blob":"AA"}}],"structuredContent":{"a":1}}}` + "\n",
		"\x03" + `{"jsonrpc":"2.0","id":9,"method":"roots/list"}` + "\n" + `{"jsonrpc":"2.0","id":10,"method":"ping"}` + "\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		op, script := in[0]%5, in[1:]
		cr, pw := io.Pipe()
		pr, cw := io.Pipe()
		c := NewClient(cr, cw, Options{MaxMessageBytes: 4096})
		defer c.Close()
		go func() {
			// Speak only once the first request is out, so that replies
			// meet a pending call rather than race it.
			_, _ = NewDecoder(pr, Options{}).Decode()
			_, _ = pw.Write(script)
			pw.Close()
			_, _ = io.Copy(io.Discard, pr)
		}()
		conn := NewConn(c)
		done := make(chan struct{})
		go func() {
			defer close(done)
			switch op {
			case 0:
				out, err := conn.CallTool(context.Background(), "t", json.RawMessage(`{}`))
				checkToolResult(t, out, err)
			case 3, 4:
				mode := ResultText
				if op == 4 {
					mode = ResultStructured
				}
				ctx := WithCall(context.Background(), CallOptions{Result: mode, Host: &fakeHost{}})
				out, err := conn.CallTool(ctx, "t", json.RawMessage(`{}`))
				checkToolResult(t, out, err)
			case 1:
				tools, err := conn.ListTools(context.Background())
				if err == nil {
					for _, tool := range tools {
						if tool.Name == "" || !isObject(tool.InputSchema) {
							t.Errorf("accepted tool %+v", tool)
						}
					}
				}
			case 2:
				res, err := Initialize(context.Background(), c, "hub", "1")
				if err == nil && (res.ProtocolVersion == "" || res.ServerInfo.Name == "") {
					t.Errorf("accepted handshake %+v", res)
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatalf("operation %d did not return", op)
		}
	})
}

func checkToolResult(t *testing.T, out json.RawMessage, err error) {
	t.Helper()
	var te *sandbox.ToolError
	switch {
	case errors.As(err, &te):
		if out != nil || len(te.Message) > MaxToolErrorBytes || !utf8.ValidString(te.Message) {
			t.Errorf("tool error of %d bytes, out %q", len(te.Message), out)
		}
	case err != nil:
		if out != nil {
			t.Errorf("error %v with output %q", err, out)
		}
	default:
		if checkJSON(out) != nil || !isObject(out) {
			t.Errorf("accepted result %q", out)
		}
	}
}
