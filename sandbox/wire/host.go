package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/isolategpt/isolategpt/sandbox"
)

// Methods a server may send the hub.
const (
	MethodRootsList      = "roots/list"
	MethodCreateMessage  = "sampling/createMessage"
	MethodElicit         = "elicitation/create"
	MethodProgress       = "notifications/progress"
	MethodLogMessage     = "notifications/message"
	MethodToolsChanged   = "notifications/tools/list_changed"
	maxPeerRequests      = 4
	maxProgressMessage   = 256
	maxSamplingMessages  = 64
	maxSamplingTextBytes = 64 << 10
)

// Host answers, for the hub, what a server asks while one of the hub's
// calls is in flight, and hears what it reports about that call. Its
// methods get the server's words, which are untrusted. Sample and Elicit
// may block (an LLM call, a question to the user); ctx ends with the call.
type Host interface {
	// Progress reports a notifications/progress for the call.
	Progress(p Progress)
	// Sample answers sampling/createMessage: an LLM call whose input the
	// server wrote. It must go to the app's own model, never the planner's.
	Sample(ctx context.Context, req *SamplingRequest) (*SamplingResult, error)
	// Elicit answers elicitation/create: a question the server asks the
	// user.
	Elicit(ctx context.Context, req *ElicitRequest) (*ElicitResult, error)
}

// Progress is one progress report of a call, as the server sent it.
type Progress struct {
	Progress float64
	Total    float64 // 0 when unknown
	Message  string  // server-authored, at most 256 bytes
}

// SamplingMessage is one message of a sampling request; only text is
// taken.
type SamplingMessage struct {
	Role string // "user" or "assistant"
	Text string
}

// SamplingRequest is a server's sampling/createMessage, reduced to text.
type SamplingRequest struct {
	Messages     []SamplingMessage
	SystemPrompt string
	MaxTokens    int
}

// SamplingResult is the hub's answer to a sampling request.
type SamplingResult struct {
	Text  string
	Model string
}

// ElicitRequest is a server's elicitation/create: a message for the user
// and the schema of the answer it wants.
type ElicitRequest struct {
	Message string
	Schema  json.RawMessage
}

// Elicitation actions.
const (
	ElicitAccept  = "accept"
	ElicitDecline = "decline"
	ElicitCancel  = "cancel"
)

// ElicitResult is the user's answer: an action and, when accepted, the
// content.
type ElicitResult struct {
	Action  string
	Content json.RawMessage
}

// CallOptions are the hub's choices for one tools/call, carried by its
// context: how to read its result, and who answers the server during it.
type CallOptions struct {
	// Result is specs.ResultStructured or specs.ResultText; empty reads
	// the result as before typed results existed (structured content, one
	// JSON object text, or {"text"}), which built-in apps rely on.
	Result string
	Host   Host
}

type callKey struct{}

// WithCall returns ctx carrying opts for the tools/call made with it.
func WithCall(ctx context.Context, opts CallOptions) context.Context {
	return context.WithValue(ctx, callKey{}, opts)
}

func callOptions(ctx context.Context) CallOptions {
	o, _ := ctx.Value(callKey{}).(CallOptions)
	return o
}

// hosts are the Hosts of a client's calls in flight, by progress token.
// A server request is answered by the most recent one: on stdio MCP does
// not say which call a request serves, and every call of a connection
// belongs to the same app.
type hosts struct {
	mu    sync.Mutex
	next  uint64
	order []string
	by    map[string]Host
	sem   chan struct{}
}

func (h *hosts) add(host Host) (token string, remove func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.by == nil {
		h.by = map[string]Host{}
	}
	h.next++
	token = "p" + strconv.FormatUint(h.next, 10)
	h.by[token] = host
	h.order = append(h.order, token)
	return token, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.by, token)
		for i, t := range h.order {
			if t == token {
				h.order = append(h.order[:i], h.order[i+1:]...)
				break
			}
		}
	}
}

func (h *hosts) byToken(raw json.RawMessage) Host {
	var tok string
	if json.Unmarshal(raw, &tok) != nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.by[tok]
}

func (h *hosts) latest() Host {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.order) == 0 {
		return nil
	}
	return h.by[h.order[len(h.order)-1]]
}

// rootsResult is the one root the hub offers: the app's own folder.
var rootsResult = json.RawMessage(`{"roots":[{"uri":"file://` + sandbox.DataPath + `","name":"the app's own folder"}]}`)

// peerRequest answers a request the server sent. Ping and roots/list are
// answered at once; sampling and elicitation go to the Host of the call
// in flight, on their own goroutine (at most maxPeerRequests at once);
// anything else is refused without acting.
func (c *Client) peerRequest(m *Message) error {
	var result json.RawMessage
	var rerr *RPCError
	switch m.Method {
	case MethodPing:
		result = json.RawMessage(`{}`)
	case MethodRootsList:
		if c.opts.NoRoots {
			rerr = &RPCError{Code: CodeMethodNotFound, Message: "method not found"}
		} else {
			result = rootsResult
		}
	case MethodCreateMessage, MethodElicit:
		host := c.hosts.latest()
		if host == nil {
			rerr = &RPCError{Code: CodeInvalidRequest, Message: "no call in flight to ask on behalf of"}
			break
		}
		select {
		case c.hosts.sem <- struct{}{}:
		default:
			rerr = &RPCError{Code: CodeInternalError, Message: "too many requests at once"}
		}
		if rerr != nil {
			break
		}
		go c.answerLater(m, host)
		return nil
	default:
		rerr = &RPCError{Code: CodeMethodNotFound, Message: "method not found"}
	}
	frame, err := marshalMessage(&Message{ID: m.ID, Result: result, Error: rerr}, c.max)
	if err != nil {
		return fmt.Errorf("answer peer request: %w", err)
	}
	select {
	case c.ctrl <- frame:
		return nil
	default:
		return ErrPeerFlood
	}
}

// answerLater runs a Host for one server request and sends its answer.
func (c *Client) answerLater(m *Message, host Host) {
	defer func() { <-c.hosts.sem }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	var result any
	var err error
	switch m.Method {
	case MethodCreateMessage:
		result, err = sample(ctx, host, m.Params)
	case MethodElicit:
		result, err = elicit(ctx, host, m.Params)
	}
	reply := &Message{ID: m.ID}
	if err != nil {
		var re *RPCError
		if !errors.As(err, &re) {
			re = &RPCError{Code: CodeInternalError, Message: truncate(err.Error(), 512)}
		}
		reply.Error = re
	} else if reply.Result, err = json.Marshal(result); err != nil {
		reply.Error = &RPCError{Code: CodeInternalError, Message: "internal error"}
	}
	frame, err := marshalMessage(reply, c.max)
	if err != nil {
		return
	}
	select {
	case c.out <- frame:
	case <-c.done:
	}
}

func sample(ctx context.Context, host Host, params json.RawMessage) (any, error) {
	o, err := parseObject(params, "params")
	if err != nil {
		return nil, invalidParams(err)
	}
	req := &SamplingRequest{}
	if req.SystemPrompt, err = o.str("systemPrompt", false, maxSamplingTextBytes); err != nil {
		return nil, invalidParams(err)
	}
	if mt, _ := o.get("maxTokens", false); mt != nil {
		n, err := strconv.Atoi(string(mt))
		if err != nil || n < 1 {
			return nil, &RPCError{Code: CodeInvalidParams, Message: "maxTokens is not a positive integer"}
		}
		req.MaxTokens = n
	}
	msgs, err := o.array("messages", true)
	if err != nil {
		return nil, invalidParams(err)
	}
	if len(msgs) == 0 || len(msgs) > maxSamplingMessages {
		return nil, &RPCError{Code: CodeInvalidParams, Message: fmt.Sprintf("1 to %d messages", maxSamplingMessages)}
	}
	for i, raw := range msgs {
		mo, err := parseObject(raw, fmt.Sprintf("messages[%d]", i))
		if err != nil {
			return nil, invalidParams(err)
		}
		role, err := mo.str("role", true, 16)
		if err != nil || (role != "user" && role != "assistant") {
			return nil, &RPCError{Code: CodeInvalidParams, Message: "a message's role is user or assistant"}
		}
		content, err := mo.obj("content", true)
		if err != nil {
			return nil, invalidParams(err)
		}
		co, _ := parseObject(content, "content")
		if typ, _ := co.str("type", true, 32); typ != ContentText {
			return nil, &RPCError{Code: CodeInvalidParams, Message: "only text messages are sampled"}
		}
		text, err := co.str("text", true, maxSamplingTextBytes)
		if err != nil {
			return nil, invalidParams(err)
		}
		req.Messages = append(req.Messages, SamplingMessage{Role: role, Text: text})
	}
	res, err := host.Sample(ctx, req)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"role":       "assistant",
		"content":    map[string]string{"type": ContentText, "text": res.Text},
		"model":      res.Model,
		"stopReason": "endTurn",
	}, nil
}

func elicit(ctx context.Context, host Host, params json.RawMessage) (any, error) {
	o, err := parseObject(params, "params")
	if err != nil {
		return nil, invalidParams(err)
	}
	req := &ElicitRequest{}
	if req.Message, err = o.str("message", true, maxSamplingTextBytes); err != nil {
		return nil, invalidParams(err)
	}
	if req.Schema, err = o.obj("requestedSchema", false); err != nil {
		return nil, invalidParams(err)
	}
	res, err := host.Elicit(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"action": res.Action}
	if res.Action == ElicitAccept && res.Content != nil {
		out["content"] = res.Content
	}
	return out, nil
}

// progress hands a notifications/progress to the Host of its call.
func (c *Client) progress(params json.RawMessage) {
	o, err := parseObject(params, "params")
	if err != nil {
		return
	}
	tok, _ := o.get("progressToken", true)
	host := c.hosts.byToken(tok)
	if host == nil {
		return
	}
	var p Progress
	if v, _ := o.get("progress", true); v != nil {
		if json.Unmarshal(v, &p.Progress) != nil {
			return
		}
	}
	if v, _ := o.get("total", false); v != nil {
		_ = json.Unmarshal(v, &p.Total)
	}
	if msg, err := o.str("message", false, -1); err == nil {
		p.Message = truncate(msg, maxProgressMessage)
	}
	host.Progress(p)
}
