package ollama

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeResponse feeds the decoder arbitrary bytes, as a hostile or broken
// server could. It must not panic, and whatever it accepts must be safe to
// hand to the tool runner: named calls with IDs and JSON-object arguments.
func FuzzDecodeResponse(f *testing.F) {
	for _, seed := range []string{
		toolCallAnswer,
		`{"message":{"role":"assistant","content":"hi"},"done":true,"done_reason":"stop","prompt_eval_count":1,"eval_count":2}`,
		`{"message":{"tool_calls":[{"function":{"name":"f","arguments":"{\"a\":1}"}}]}}`,
		`{"message":{"tool_calls":[{"function":{"name":"f","arguments":null}}]}}`,
		`{"message":{"tool_calls":[{"function":{"name":"f","arguments":[1]}}]}}`,
		`{"message":{"tool_calls":[{"id":"","function":{"name":"","arguments":{}}}]}}`,
		`{"error":"boom"}`,
		`{"message":null}`,
		`{"prompt_eval_count":1e400}`,
		`[]`,
		``,
		`{"message":{"content":"\u0000"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := decodeResponse(data)
		if err != nil {
			if resp != nil {
				t.Fatalf("response %+v returned with error %v", resp, err)
			}
			return
		}
		if len(resp.Choices) != 1 {
			t.Fatalf("choices = %d, want 1", len(resp.Choices))
		}
		c := resp.Choices[0]
		for i, tc := range c.ToolCalls {
			if tc.ID == "" || tc.Type != "function" || tc.FunctionCall == nil || tc.FunctionCall.Name == "" {
				t.Fatalf("tool call %d = %+v", i, tc)
			}
			var args map[string]any
			if err := json.Unmarshal([]byte(tc.FunctionCall.Arguments), &args); err != nil || args == nil {
				t.Fatalf("tool call %d arguments %q are not a JSON object: %v", i, tc.FunctionCall.Arguments, err)
			}
		}
		if len(c.ToolCalls) > 0 && c.FuncCall != c.ToolCalls[0].FunctionCall {
			t.Fatalf("FuncCall is not the first tool call")
		}
		if len(c.ToolCalls) == 0 && c.FuncCall != nil {
			t.Fatalf("FuncCall set without tool calls")
		}
		for _, k := range []string{"PromptTokens", "CompletionTokens"} {
			if _, ok := c.GenerationInfo[k].(int); !ok {
				t.Fatalf("GenerationInfo[%s] = %#v, want an int", k, c.GenerationInfo[k])
			}
		}
	})
}
