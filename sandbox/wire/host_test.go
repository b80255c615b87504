package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/isolategpt/isolategpt/sandbox"
)

// fakeHost records what a server reported and answers as told.
type fakeHost struct {
	mu       sync.Mutex
	progress []Progress
	sampled  []*SamplingRequest
	elicited []*ElicitRequest
}

func (h *fakeHost) Progress(p Progress) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.progress = append(h.progress, p)
}

func (h *fakeHost) Sample(_ context.Context, r *SamplingRequest) (*SamplingResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sampled = append(h.sampled, r)
	return &SamplingResult{Text: "sampled: " + r.Messages[0].Text, Model: "spoke-model"}, nil
}

func (h *fakeHost) Elicit(_ context.Context, r *ElicitRequest) (*ElicitResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.elicited = append(h.elicited, r)
	return &ElicitResult{Action: ElicitDecline}, nil
}

// TestNonJSONLinesAreSkipped: a banner or log line on stdout does not
// break the connection; valid JSON that is not JSON-RPC still does.
func TestNonJSONLinesAreSkipped(t *testing.T) {
	var skipped []string
	var mu sync.Mutex
	c, p := newRawPeer(t, Options{OnSkip: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		skipped = append(skipped, err.Error())
	}})
	call := goCall(t.Context(), c, "m", nil)
	id := p.recv().ID
	p.send("Starting Time MCP server...\n\xff\xfe not utf-8\n{broken json\n")
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{"ok":true}}`+"\n", id))
	if r := await(t, call); r.err != nil || string(r.raw) != `{"ok":true}` {
		t.Fatalf("call after non-JSON lines: %s, %v", r.raw, r.err)
	}
	mu.Lock()
	if len(skipped) != 3 {
		t.Errorf("skipped %q, want 3 lines", skipped)
	}
	mu.Unlock()
	call = goCall(t.Context(), c, "m", nil)
	p.recv()
	p.send(`{"jsonrpc":"2.0","surprise":1}` + "\n")
	if r := await(t, call); !errors.Is(r.err, ErrBroken) {
		t.Fatalf("valid JSON that is not JSON-RPC: %v, want ErrBroken", r.err)
	}
}

// TestRootsAndPing: the hub answers ping, and roots/list with the app's
// own folder, or refuses roots when the app has none.
func TestRootsAndPing(t *testing.T) {
	for _, noRoots := range []bool{false, true} {
		t.Run(fmt.Sprintf("no roots %v", noRoots), func(t *testing.T) {
			_, p := newRawPeer(t, Options{NoRoots: noRoots})
			p.send(`{"jsonrpc":"2.0","id":7,"method":"ping"}` + "\n")
			if m := p.recv(); m.Error != nil || string(m.Result) != `{}` {
				t.Fatalf("ping: %+v", m)
			}
			p.send(`{"jsonrpc":"2.0","id":8,"method":"roots/list"}` + "\n")
			m := p.recv()
			if noRoots {
				if m.Error == nil {
					t.Fatalf("roots/list answered for an app without roots: %s", m.Result)
				}
				return
			}
			if m.Error != nil || !strings.Contains(string(m.Result), `"uri":"file://`+sandbox.DataPath+`"`) {
				t.Fatalf("roots/list: %+v %s", m, m.Result)
			}
		})
	}
}

// TestHostAnswersDuringACall: progress, sampling and elicitation during a
// tools/call reach the call's Host, and their answers reach the server;
// with no call in flight, sampling is refused.
func TestHostAnswersDuringACall(t *testing.T) {
	c, p := newRawPeer(t, Options{})
	conn := NewConn(c)
	host := &fakeHost{}
	type res struct {
		out json.RawMessage
		err error
	}
	done := make(chan res, 1)
	go func() {
		out, err := conn.CallTool(WithCall(t.Context(), CallOptions{Result: ResultText, Host: host}), "t", json.RawMessage(`{}`))
		done <- res{out, err}
	}()
	req := p.recv()
	var params struct {
		Meta struct {
			ProgressToken string `json:"progressToken"`
		} `json:"_meta"`
	}
	if err := json.Unmarshal(req.Params, &params); err != nil || params.Meta.ProgressToken == "" {
		t.Fatalf("tools/call without a progress token: %s", req.Params)
	}
	tok := params.Meta.ProgressToken
	p.send(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"` + tok + `","progress":1,"total":4,"message":"step 1"}}` + "\n")
	p.send(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"other","progress":9}}` + "\n")
	p.send(`{"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":{"messages":[{"role":"user","content":{"type":"text","text":"hello"}}],"maxTokens":50}}` + "\n")
	m := p.recv()
	if string(m.ID) != `"s1"` || m.Error != nil || !strings.Contains(string(m.Result), `"text":"sampled: hello"`) {
		t.Fatalf("sampling answer: %+v %s", m, m.Result)
	}
	p.send(`{"jsonrpc":"2.0","id":"e1","method":"elicitation/create","params":{"message":"your name?","requestedSchema":{"type":"object"}}}` + "\n")
	if m := p.recv(); m.Error != nil || string(m.Result) != `{"action":"decline"}` {
		t.Fatalf("elicitation answer: %+v %s", m, m.Result)
	}
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"a"},{"type":"image","data":"AAAA","mimeType":"image/png"},{"type":"resource","resource":{"uri":"test://x","mimeType":"text/plain","text":"r"}},{"type":"resource_link","uri":"test://y","name":"y","size":3},{"type":"text","text":"b"}]}}`+"\n", req.ID))
	r := <-done
	want := `{"text":"a\nb","content":[{"type":"text","text":"a"},{"type":"image","mime_type":"image/png","data":"AAAA"},{"type":"resource","text":"r","mime_type":"text/plain","uri":"test://x"},{"type":"resource_link","uri":"test://y","name":"y","size":3},{"type":"text","text":"b"}]}`
	if r.err != nil || string(r.out) != want {
		t.Fatalf("text result:\n got %s, %v\nwant %s", r.out, r.err, want)
	}
	host.mu.Lock()
	if len(host.progress) != 1 || host.progress[0] != (Progress{Progress: 1, Total: 4, Message: "step 1"}) {
		t.Errorf("progress %+v", host.progress)
	}
	if len(host.sampled) != 1 || host.sampled[0].MaxTokens != 50 || len(host.elicited) != 1 || host.elicited[0].Message != "your name?" {
		t.Errorf("sampled %+v, elicited %+v", host.sampled, host.elicited)
	}
	host.mu.Unlock()
	// The call is over: nobody may be asked on its behalf any more.
	p.send(`{"jsonrpc":"2.0","id":"s2","method":"sampling/createMessage","params":{"messages":[{"role":"user","content":{"type":"text","text":"late"}}]}}` + "\n")
	if m := p.recv(); m.Error == nil {
		t.Fatalf("sampling with no call in flight answered: %s", m.Result)
	}
}

// TestResultModes: a function's declared result decides the output's
// shape, never the data.
func TestResultModes(t *testing.T) {
	for _, tc := range []struct {
		name, mode, result, want string
		noStructured             bool
	}{
		{"text keeps JSON-looking text as text", ResultText, `{"content":[{"type":"text","text":"{\"warning\":1}"}]}`, `{"text":"{\"warning\":1}","content":[{"type":"text","text":"{\"warning\":1}"}]}`, false},
		{"text with no content", ResultText, `{"content":[]}`, `{"text":"","content":[]}`, false},
		{"text ignores structured content", ResultText, `{"content":[{"type":"text","text":"x"}],"structuredContent":{"a":1}}`, `{"text":"x","content":[{"type":"text","text":"x"}]}`, false},
		{"structured", ResultStructured, `{"content":[{"type":"text","text":"x"}],"structuredContent":{"a":1}}`, `{"a":1}`, false},
		{"structured from one JSON text", ResultStructured, `{"content":[{"type":"text","text":"{\"a\":2}"}]}`, `{"a":2}`, false},
		{"structured missing", ResultStructured, `{"content":[{"type":"text","text":"plain"}]}`, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := connect(t, fakeMCP{MethodToolsCall: func(json.RawMessage) (json.RawMessage, error) {
				return json.RawMessage(tc.result), nil
			}}, Options{})
			out, err := NewConn(c).CallTool(WithCall(t.Context(), CallOptions{Result: tc.mode}), "t", nil)
			if tc.noStructured {
				if !errors.Is(err, ErrNoStructured) || errors.Is(err, ErrBroken) {
					t.Fatalf("CallTool = %s, %v; want ErrNoStructured, connection intact", out, err)
				}
				return
			}
			if err != nil || string(out) != tc.want {
				t.Fatalf("CallTool = %s, %v; want %s", out, err, tc.want)
			}
		})
	}
}

// TestToolAnnotationsAndTitles are read from tools/list; a hint that is
// not a boolean is refused.
func TestToolAnnotationsAndTitles(t *testing.T) {
	list := func(tools string) ([]sandbox.Tool, error) {
		c := connect(t, fakeMCP{MethodToolsList: func(json.RawMessage) (json.RawMessage, error) {
			return json.RawMessage(`{"tools":` + tools + `}`), nil
		}}, Options{})
		return NewConn(c).ListTools(t.Context())
	}
	tools, err := list(`[{"name":"a","title":"A","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":true,"title":"x"},"execution":{"taskSupport":"required"}}]`)
	if err != nil || len(tools) != 1 {
		t.Fatal(tools, err)
	}
	a := tools[0]
	if a.Title != "A" || a.Annotations == nil || a.Annotations.ReadOnlyHint == nil || !*a.Annotations.ReadOnlyHint || a.Annotations.DestructiveHint != nil || a.TaskSupport != "required" {
		t.Errorf("tool %+v, annotations %+v", a, a.Annotations)
	}
	if _, err := list(`[{"name":"a","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":"yes"}}]`); !errors.Is(err, ErrProtocol) {
		t.Errorf("non-boolean hint: %v", err)
	}
}

// TestInitializeOffersCapabilities: the hub offers sampling and
// elicitation always, and roots unless the app has none.
func TestInitializeOffersCapabilities(t *testing.T) {
	for _, noRoots := range []bool{false, true} {
		c, p := newRawPeer(t, Options{NoRoots: noRoots})
		go func() { _, _ = Initialize(context.Background(), c, "hub", "1") }()
		m := p.recv()
		var params InitializeParams
		if err := json.Unmarshal(m.Params, &params); err != nil {
			t.Fatal(err)
		}
		caps := params.Capabilities
		if caps.Sampling == nil || caps.Elicitation == nil || (caps.Roots == nil) != noRoots {
			t.Errorf("no roots %v: capabilities %s", noRoots, m.Params)
		}
	}
}
