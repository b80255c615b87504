package ollama

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"
)

func TestHTTPErrors(t *testing.T) {
	big := strings.Repeat("Z", 2000)
	tests := []struct {
		name    string
		status  int
		body    string
		want    error
		contain string
	}{
		{"server error", http.StatusInternalServerError, `{"error":"model crashed"}`, ErrStatus, "model crashed"},
		{"not found", http.StatusNotFound, `{"error":"model \"nope\" not found, try pulling it first"}`, ErrStatus, "404"},
		{"malformed", http.StatusOK, `{"message": {"content": "unterminated`, ErrBadResponse, ""},
		{"not an object", http.StatusOK, `[1,2,3]`, ErrBadResponse, ""},
		{"no message", http.StatusOK, `{"done":true}`, ErrBadResponse, "no message"},
		{"error field", http.StatusOK, `{"error":"out of memory"}`, ErrBadResponse, "out of memory"},
		{"arguments not an object", http.StatusOK,
			`{"message":{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":[1]}}]},"done":true}`, ErrBadResponse, "JSON object"},
		{"tool call without name", http.StatusOK,
			`{"message":{"role":"assistant","tool_calls":[{"function":{"arguments":{}}}]},"done":true}`, ErrBadResponse, "no name"},
		{"long error body", http.StatusBadGateway, big, ErrStatus, strings.Repeat("Z", maxErrorBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newServer(t, tt.status, tt.body)
			_, err := newModel(t, srv).Call(t.Context(), "hi")
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.contain) {
				t.Errorf("err = %q, want it to mention %q", err, tt.contain)
			}
			if n := strings.Count(err.Error(), "Z"); n > maxErrorBytes {
				t.Errorf("error quotes %d bytes of the body, want at most %d", n, maxErrorBytes)
			}
		})
	}
}

func TestResponseSizeLimit(t *testing.T) {
	const answer = `{"message":{"role":"assistant","content":"ok"},"done":true}`
	tests := []struct {
		name string
		size int
		want error
	}{
		{"at the limit", MaxResponseBytes, nil},
		{"one byte over", MaxResponseBytes + 1, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Trailing white space keeps the body valid JSON at any size.
			body := answer + strings.Repeat(" ", tt.size-len(answer))
			srv, _ := newServer(t, http.StatusOK, body)
			got, err := newModel(t, srv).Call(t.Context(), "hi")
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == nil && got != "ok" {
				t.Errorf("Call = %q", got)
			}
		})
	}
}

func TestBadRequestsAreNotSent(t *testing.T) {
	tests := []struct {
		name string
		msgs []llms.MessageContent
		opts []llms.CallOption
	}{
		{"tool call in a human message", []llms.MessageContent{{Role: llms.ChatMessageTypeHuman, Parts: []llms.ContentPart{
			llms.ToolCall{ID: "c", FunctionCall: &llms.FunctionCall{Name: "f", Arguments: "{}"}},
		}}}, nil},
		{"arguments not a JSON object", []llms.MessageContent{{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{
			llms.ToolCall{ID: "c", FunctionCall: &llms.FunctionCall{Name: "f", Arguments: "[1]"}},
		}}}, nil},
		{"tool call without function", []llms.MessageContent{{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{
			llms.ToolCall{ID: "c"},
		}}}, nil},
		{"image by URL", []llms.MessageContent{{Role: llms.ChatMessageTypeHuman, Parts: []llms.ContentPart{
			llms.ImageURLContent{URL: "https://example.com/a.png"},
		}}}, nil},
		{"unknown role", []llms.MessageContent{{Role: "wizard", Parts: []llms.ContentPart{llms.TextContent{Text: "hi"}}}}, nil},
		{"tool without a function", llmsHuman("hi"), []llms.CallOption{llms.WithTools([]llms.Tool{{Type: "function"}})}},
		{"tool of another type", llmsHuman("hi"), []llms.CallOption{llms.WithTools([]llms.Tool{{Type: "retrieval", Function: &llms.FunctionDefinition{Name: "f"}}})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, rec := newServer(t, http.StatusOK, `{"message":{"role":"assistant","content":"ok"},"done":true}`)
			_, err := newModel(t, srv).GenerateContent(t.Context(), tt.msgs, tt.opts...)
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("err = %v, want ErrBadRequest", err)
			}
			if n := rec.hits.Load(); n != 0 {
				t.Errorf("server saw %d requests, want none", n)
			}
		})
	}
}

func llmsHuman(s string) []llms.MessageContent {
	return []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, s)}
}

func TestContextCancel(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a closed connection only once the body is read.
		io.Copy(io.Discard, r.Body)
		close(arrived)
		select { // hold the answer until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: never leave Close waiting
	m := newModel(t, srv)

	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	_, err := m.Call(ctx, "hi")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
