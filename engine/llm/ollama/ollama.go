// Package ollama is an llms.Model for a local Ollama server over its native
// POST /api/chat endpoint, with tool calling, which langchaingo's own Ollama
// provider lacks.
package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/tmc/langchaingo/llms"
)

// DefaultHost is the server used when no host is given, as in Ollama's CLI.
const DefaultHost = "http://127.0.0.1:11434"

// MaxResponseBytes bounds the body read from the server; a larger answer is
// refused rather than buffered.
const MaxResponseBytes = 8 << 20

// maxErrorBytes bounds how much of a failed answer is quoted in an error.
const maxErrorBytes = 512

// Model talks to one model on one Ollama server. It is safe for concurrent
// use.
type Model struct {
	chatURL string
	model   string
	client  *http.Client
}

var _ llms.Model = (*Model)(nil)

// New returns a Model for model on the server at host. host may be a URL
// ("http://gpu-box:11434"), "host:port" without a scheme, or empty for
// DefaultHost; as in Ollama, a plain-http host without a port gets 11434.
// A nil client means http.DefaultClient.
func New(host, model string, client *http.Client) (*Model, error) {
	if strings.TrimSpace(model) == "" {
		return nil, errors.New("ollama: empty model name")
	}
	base, err := parseHost(host)
	if err != nil {
		return nil, fmt.Errorf("ollama: host: %w", err)
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &Model{chatURL: base.JoinPath("api", "chat").String(), model: model, client: client}, nil
}

func parseHost(host string) (*url.URL, error) {
	host = strings.TrimSpace(host)
	if host == "" {
		host = DefaultHost
	}
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q is not a server address", host)
	}
	hostname, port := u.Hostname(), u.Port()
	if hostname == "" {
		hostname = "127.0.0.1"
	}
	if port == "" && u.Scheme == "http" {
		port = "11434"
	}
	if port != "" {
		u.Host = net.JoinHostPort(hostname, port)
	} else {
		u.Host = hostname
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// Call implements the single-prompt interface through GenerateContent.
func (m *Model) Call(ctx context.Context, prompt string, options ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, options...)
}

// GenerateContent sends the conversation in one non-streaming request. The
// answer's tokens are reported in GenerationInfo as PromptTokens and
// CompletionTokens. A StreamingFunc, if given, receives the whole answer as
// one chunk.
func (m *Model) GenerateContent(ctx context.Context, messages []llms.MessageContent, options ...llms.CallOption) (*llms.ContentResponse, error) {
	req, err := buildRequest(m.model, messages, options)
	if err != nil {
		return nil, fmt.Errorf("ollama: %w", err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("ollama: %w: %w", ErrBadRequest, err)
	}
	data, err := m.post(ctx, body)
	if err != nil {
		return nil, err
	}
	resp, err := decodeResponse(data)
	if err != nil {
		return nil, fmt.Errorf("ollama: chat: %w", err)
	}

	var opts llms.CallOptions
	for _, o := range options {
		o(&opts)
	}
	if opts.StreamingFunc != nil && resp.Choices[0].Content != "" {
		if err := opts.StreamingFunc(ctx, []byte(resp.Choices[0].Content)); err != nil {
			return nil, fmt.Errorf("ollama: streaming func: %w", err)
		}
	}
	return resp, nil
}

// post sends body and returns the answer's body, bounded by MaxResponseBytes.
func (m *Model) post(ctx context.Context, body []byte) ([]byte, error) {
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, m.chatURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("ollama: chat: %w", err)
	}
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("Accept", "application/json")
	resp, err := m.client.Do(httpReq)
	if err != nil {
		return nil, fmt.Errorf("ollama: chat: %w", err)
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		return nil, fmt.Errorf("ollama: chat: %w %d: %q", ErrStatus, resp.StatusCode, snippet)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("ollama: chat: read answer: %w", err)
	}
	if len(data) > MaxResponseBytes {
		return nil, fmt.Errorf("ollama: chat: %w: more than %d bytes", ErrTooLarge, MaxResponseBytes)
	}
	return data, nil
}
