package scripted

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/tmc/langchaingo/llms"
)

// Contains matches requests whose Text contains s.
func Contains(s string) func(Request) bool {
	return func(r Request) bool { return strings.Contains(r.Text, s) }
}

// HasTool matches requests that offer a tool called name.
func HasTool(name string) func(Request) bool {
	return func(r Request) bool {
		for _, t := range r.Tools {
			if t.Function != nil && t.Function.Name == name {
				return true
			}
		}
		return false
	}
}

// HasToolResult matches requests whose conversation holds a tool result: the
// point where an agent loop should stop calling and answer.
func HasToolResult(r Request) bool {
	for _, m := range r.Messages {
		for _, p := range m.Parts {
			if _, ok := p.(llms.ToolCallResponse); ok {
				return true
			}
		}
	}
	return false
}

// Always matches every request.
func Always(Request) bool { return true }

// Text replies with s.
func Text(s string) func(Request) Reply {
	return func(Request) Reply { return Reply{Text: s} }
}

var callSeq atomic.Int64

// Call returns a tool call of name with args marshalled to JSON (nil args
// become {}). IDs are "call_N", unique within the process. It panics if args
// cannot be marshalled, which is a bug in the test.
func Call(name string, args any) llms.ToolCall {
	js := []byte("{}")
	if args != nil {
		var err error
		if js, err = json.Marshal(args); err != nil {
			panic(fmt.Sprintf("scripted: call %s: marshal arguments: %v", name, err))
		}
	}
	return llms.ToolCall{
		ID:           fmt.Sprintf("call_%d", callSeq.Add(1)),
		Type:         "function",
		FunctionCall: &llms.FunctionCall{Name: name, Arguments: string(js)},
	}
}

// Sequence answers its nth call with the nth reply and repeats the last one
// after the end. The count is shared by every request the rule answers.
func Sequence(replies ...Reply) func(Request) Reply {
	var n atomic.Int64
	return func(Request) Reply {
		if len(replies) == 0 {
			return Reply{Err: errEmptySequence}
		}
		i := n.Add(1) - 1
		if i >= int64(len(replies)) {
			i = int64(len(replies)) - 1
		}
		return replies[i]
	}
}
