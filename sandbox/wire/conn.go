package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/isolategpt/isolategpt/sandbox"
)

// MaxTools bounds how many tools a connection accepts from tools/list, over
// all pages; it also bounds the number of pages.
const MaxTools = 1000

// MaxToolErrorBytes bounds the message of a *sandbox.ToolError built from a
// tool's isError result.
const MaxToolErrorBytes = 4 << 10

// NewConn serves sandbox.Conn over an initialized MCP client. What the peer
// sends is read by exact member names and checked before it is returned.
func NewConn(c *Client) sandbox.Conn { return &conn{c: c} }

type conn struct{ c *Client }

// ListTools follows tools/list's pages to the end. It refuses more than
// MaxTools tools or pages, a repeated tool name, and a tool without a name
// or without an object input schema.
func (c *conn) ListTools(ctx context.Context) ([]sandbox.Tool, error) {
	var tools []sandbox.Tool
	seen := map[string]bool{}
	cursor := ""
	for page := 0; ; page++ {
		if page == MaxTools {
			return nil, fmt.Errorf("list tools: %w: more than %d pages", ErrProtocol, MaxTools)
		}
		var raw json.RawMessage
		if err := c.c.Call(ctx, MethodToolsList, ListToolsParams{Cursor: cursor}, &raw); err != nil {
			return nil, fmt.Errorf("list tools: %w", err)
		}
		o, err := parseObject(raw, "result")
		if err != nil {
			return nil, fmt.Errorf("list tools: %w", err)
		}
		items, err := o.array("tools", true)
		if err != nil {
			return nil, fmt.Errorf("list tools: %w", err)
		}
		if len(tools)+len(items) > MaxTools {
			return nil, fmt.Errorf("list tools: %w: more than %d tools", ErrProtocol, MaxTools)
		}
		for i, item := range items {
			t, err := parseTool(item, i)
			if err != nil {
				return nil, fmt.Errorf("list tools: %w", err)
			}
			if seen[t.Name] {
				return nil, fmt.Errorf("list tools: %w: tool %q listed twice", ErrProtocol, truncate(t.Name, 64))
			}
			seen[t.Name] = true
			tools = append(tools, t)
		}
		if cursor, err = o.str("nextCursor", false, -1); err != nil {
			return nil, fmt.Errorf("list tools: %w", err)
		}
		if cursor == "" {
			return tools, nil
		}
	}
}

func parseTool(raw json.RawMessage, i int) (sandbox.Tool, error) {
	var t sandbox.Tool
	o, err := parseObject(raw, fmt.Sprintf("tools[%d]", i))
	if err != nil {
		return t, err
	}
	if t.Name, err = o.str("name", true, -1); err != nil {
		return t, err
	}
	if t.Name == "" {
		return t, fmt.Errorf("%w: %s has an empty name", ErrProtocol, o.what)
	}
	if t.Description, err = o.str("description", false, -1); err != nil {
		return t, err
	}
	if t.InputSchema, err = o.obj("inputSchema", true); err != nil {
		return t, err
	}
	if t.OutputSchema, err = o.obj("outputSchema", false); err != nil {
		return t, err
	}
	if t.Title, err = o.str("title", false, maxInfoBytes); err != nil {
		return t, err
	}
	if t.Annotations, err = parseAnnotations(o); err != nil {
		return t, err
	}
	exec, err := o.obj("execution", false)
	if err != nil {
		return t, err
	}
	if exec != nil {
		eo, err := parseObject(exec, o.what+".execution")
		if err != nil {
			return t, err
		}
		if t.TaskSupport, err = eo.str("taskSupport", false, 32); err != nil {
			return t, err
		}
	}
	return t, nil
}

// parseAnnotations reads a tool's hints; anything but a boolean where a
// hint is given is refused.
func parseAnnotations(o object) (*sandbox.ToolAnnotations, error) {
	raw, err := o.obj("annotations", false)
	if err != nil || raw == nil {
		return nil, err
	}
	ao, err := parseObject(raw, o.what+".annotations")
	if err != nil {
		return nil, err
	}
	a := &sandbox.ToolAnnotations{}
	for _, h := range []struct {
		key string
		dst **bool
	}{{"readOnlyHint", &a.ReadOnlyHint}, {"destructiveHint", &a.DestructiveHint}, {"idempotentHint", &a.IdempotentHint}, {"openWorldHint", &a.OpenWorldHint}} {
		v, err := ao.get(h.key, false)
		if err != nil || v == nil {
			continue
		}
		b, err := ao.boolean(h.key)
		if err != nil {
			return nil, err
		}
		*h.dst = &b
	}
	if *a == (sandbox.ToolAnnotations{}) {
		return nil, nil
	}
	return a, nil
}

// CallTool runs tools/call. A result marked isError becomes a
// *sandbox.ToolError carrying its text. Otherwise what it returns depends
// on the CallOptions ctx carries (WithCall): ResultText gives the hub's
// record of the content items, {"text", "content"}; ResultStructured the
// structuredContent object (or, from a server that puts it only in text,
// the one text item that is a JSON object); no options, what built-in apps
// have always returned (structured content, one JSON object text, or
// {"text"}). A Host in the options is asked for progress reports and
// answers the server's sampling and elicitation during the call.
func (c *conn) CallTool(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	opts := callOptions(ctx)
	params := CallToolParams{Name: name, Arguments: args}
	if opts.Host != nil {
		token, remove := c.c.hosts.add(opts.Host)
		defer remove()
		params.Meta = &CallMeta{ProgressToken: token}
	}
	var raw json.RawMessage
	if err := c.c.Call(ctx, MethodToolsCall, params, &raw); err != nil {
		return nil, fmt.Errorf("call tool %s: %w", name, err)
	}
	out, err := toolResult(raw, opts.Result)
	if err != nil {
		var te *sandbox.ToolError
		if errors.As(err, &te) {
			return nil, te
		}
		return nil, fmt.Errorf("call tool %s: %w", name, err)
	}
	return out, nil
}

func toolResult(raw json.RawMessage, mode string) (json.RawMessage, error) {
	o, err := parseObject(raw, "result")
	if err != nil {
		return nil, err
	}
	items, err := parseContent(o)
	if err != nil {
		return nil, err
	}
	var texts []string
	for _, it := range items {
		if it.Type == ContentText {
			texts = append(texts, it.Text)
		}
	}
	isError, err := o.boolean("isError")
	if err != nil {
		return nil, err
	}
	if isError {
		msg := strings.Join(texts, "\n")
		if msg == "" {
			msg = "tool failed without a message"
		}
		return nil, &sandbox.ToolError{Message: truncate(msg, MaxToolErrorBytes)}
	}
	structured, err := o.obj("structuredContent", false)
	if err != nil {
		return nil, err
	}
	switch mode {
	case ResultText:
		if items == nil {
			items = []ContentItem{}
		}
		return json.Marshal(TextResult{Text: strings.Join(texts, "\n"), Content: items})
	case ResultStructured:
		if structured != nil {
			return structured, nil
		}
		if len(texts) == 1 && checkJSON([]byte(texts[0])) == nil && firstByte([]byte(texts[0])) == '{' {
			return compact([]byte(texts[0])), nil
		}
		return nil, fmt.Errorf("%w: the tool declares a structured result and returned none", ErrNoStructured)
	}
	if structured != nil {
		return structured, nil
	}
	if len(texts) == 1 && checkJSON([]byte(texts[0])) == nil && firstByte([]byte(texts[0])) == '{' {
		return compact([]byte(texts[0])), nil
	}
	return json.Marshal(map[string]string{"text": strings.Join(texts, "\n")})
}

// Close closes the client; calls after it fail with sandbox.ErrClosed.
func (c *conn) Close() error { return c.c.Close() }
