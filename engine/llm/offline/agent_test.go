package offline_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/engine/llm/offline"
	"github.com/isolategpt/isolategpt/specs"
)

// ownTools offers an app's functions the way a spoke's agent loop does:
// full input schemas under the bare function name.
func ownTools(t *testing.T, app string) []llms.Tool {
	t.Helper()
	m, err := specs.BuiltinByID(app)
	if err != nil {
		t.Fatal(err)
	}
	var out []llms.Tool
	for _, f := range m.Functions {
		params, err := json.Marshal(f.Input)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, llms.Tool{Type: "function", Function: &llms.FunctionDefinition{Name: f.Name, Parameters: json.RawMessage(params)}})
	}
	return out
}

// peerTools offers another app's functions as app__function.
func peerTools(t *testing.T, app string) []llms.Tool {
	t.Helper()
	m, err := specs.BuiltinByID(app)
	if err != nil {
		t.Fatal(err)
	}
	var out []llms.Tool
	for _, f := range m.Functions {
		out = append(out, llms.Tool{Type: "function", Function: &llms.FunctionDefinition{Name: app + "__" + f.Name, Parameters: f.Input.Public()}})
	}
	return out
}

func task(s string) []llms.MessageContent {
	return []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "You are the assistant inside the app."),
		llms.TextParts(llms.ChatMessageTypeHuman, s),
	}
}

func TestAgentTurn(t *testing.T) {
	ride := append(ownTools(t, "metro_hail"), peerTools(t, "quick_ride")...)
	withResult := append(task(`Estimate the fare from "Main Street" to "Elm Avenue"`),
		llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{llms.ToolCall{ID: "offline_1", Type: "function", FunctionCall: &llms.FunctionCall{Name: "estimate_fare", Arguments: `{}`}}}},
		llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{llms.ToolCallResponse{ToolCallID: "offline_1", Name: "estimate_fare", Content: `{"currency":"USD","fare":51.8}`}}},
	)
	tests := []struct {
		name     string
		messages []llms.MessageContent
		tools    []llms.Tool
		wantCall string         // tool name, or "" for a text answer
		wantArgs map[string]any // for a call
		wantText []string       // for a text answer
	}{
		{
			name:     "calls the matching own tool with filled arguments",
			messages: task(`Use metro_hail and quick_ride to estimate the fare from "Main Street" to "Elm Avenue"`),
			tools:    ride,
			wantCall: "estimate_fare",
			wantArgs: map[string]any{"start_point": "Main Street", "end_point": "Elm Avenue"},
		},
		{
			name:     "books when the task says book",
			messages: task("Book a ride from Main Street to Elm Avenue"),
			tools:    ride,
			wantCall: "book_ride",
			wantArgs: map[string]any{"start_point": "Main Street", "end_point": "Elm Avenue"},
		},
		{
			name:     "reports a tool result",
			messages: withResult,
			tools:    ride,
			wantText: []string{"estimate_fare returned", `"fare":51.8`},
		},
		{
			name:     "never calls another app's tool",
			messages: task(`Estimate the fare from "Main Street" to "Elm Avenue"`),
			tools:    peerTools(t, "quick_ride"),
			wantText: []string{offline.Label},
		},
		{
			name:     "missing required arguments: answers in text",
			messages: task("I'd like to book a flight to Paris"),
			tools:    ownTools(t, "travel_mate"),
			wantText: []string{"book_flight", "needs", "name", "email"},
		},
		{
			name:     "two functions match equally: guesses neither",
			messages: task(`Fare or ride from "A" to "B"?`),
			tools:    ride,
			wantText: []string{"could not tell"},
		},
		{
			name:     "no tools",
			messages: task("Tell me a story"),
			wantText: []string{offline.Label},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []llms.CallOption
			if tt.tools != nil {
				opts = append(opts, llms.WithTools(tt.tools))
			}
			resp, err := offline.New().GenerateContent(t.Context(), tt.messages, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Choices) != 1 {
				t.Fatalf("%d choices, want 1", len(resp.Choices))
			}
			c := resp.Choices[0]
			if tt.wantCall == "" {
				if len(c.ToolCalls) != 0 {
					t.Fatalf("called %+v, want a text answer", c.ToolCalls[0].FunctionCall)
				}
				for _, w := range tt.wantText {
					if !strings.Contains(c.Content, w) {
						t.Errorf("answer %q lacks %q", c.Content, w)
					}
				}
				return
			}
			if len(c.ToolCalls) != 1 {
				t.Fatalf("answer %q with %d tool calls, want one call of %s", c.Content, len(c.ToolCalls), tt.wantCall)
			}
			fc := c.ToolCalls[0].FunctionCall
			if fc == nil || fc.Name != tt.wantCall {
				t.Fatalf("called %+v, want %s", fc, tt.wantCall)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(fc.Arguments), &got); err != nil {
				t.Fatalf("arguments %q: %v", fc.Arguments, err)
			}
			if len(got) != len(tt.wantArgs) {
				t.Errorf("arguments %v, want %v", got, tt.wantArgs)
			}
			for k, v := range tt.wantArgs {
				if got[k] != v {
					t.Errorf("argument %s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}
