package llm

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/engine/llm/offline"
	"github.com/isolategpt/isolategpt/engine/llm/ollama"
)

// env returns a Getenv over a fixed map: tests never read the real
// environment.
func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestParseSpec(t *testing.T) {
	tests := []struct {
		spec, provider, model string
		wantErr               bool
	}{
		{"", "offline", "", false},
		{"offline", "offline", "", false},
		{" Offline ", "offline", "", false},
		{"openai:gpt-4o", "openai", "gpt-4o", false},
		{"OpenAI:gpt-4o-mini", "openai", "gpt-4o-mini", false},
		{"anthropic:claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", false},
		{"ollama:llama3.1:8b", "ollama", "llama3.1:8b", false},
		{"ollama:hf.co/org/model:Q4_K_M", "ollama", "hf.co/org/model:Q4_K_M", false},
		{"gpt-4o", "", "", true},
		{"openai", "", "", true},
		{"openai:", "", "", true},
		{"openai:  ", "", "", true},
		{"gemini:pro", "", "", true},
		{":gpt-4o", "", "", true},
		{"offline:x", "", "", true},
		{"openai:gpt 4o", "", "", true},
		{"ollama:llama\n3", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			p, m, err := ParseSpec(tt.spec)
			if tt.wantErr {
				if !errors.Is(err, ErrBadSpec) {
					t.Fatalf("ParseSpec(%q) = %q, %q, %v; want ErrBadSpec", tt.spec, p, m, err)
				}
				for _, form := range []string{"offline", "openai:MODEL", "anthropic:MODEL", "ollama:MODEL"} {
					if !strings.Contains(err.Error(), form) {
						t.Errorf("error %q does not list %s", err, form)
					}
				}
				return
			}
			if err != nil || p != tt.provider || m != tt.model {
				t.Errorf("ParseSpec(%q) = %q, %q, %v; want %q, %q", tt.spec, p, m, err, tt.provider, tt.model)
			}
		})
	}
}

func TestInfoString(t *testing.T) {
	tests := []struct {
		info Info
		want string
	}{
		{Info{Provider: "offline", Offline: true}, "offline"},
		{Info{Provider: "openai", Model: "gpt-4o"}, "openai:gpt-4o"},
		{Info{Provider: "ollama", Model: "llama3.1:8b"}, "ollama:llama3.1:8b"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.info.String(); got != tt.want {
				t.Errorf("String = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewChoosesProvider(t *testing.T) {
	tests := []struct {
		name string
		spec string
		env  map[string]string
		info Info
		// check asserts the concrete model behind the interface.
		check func(t *testing.T, m any)
	}{
		{"empty is offline", "", nil, Info{Provider: "offline", Offline: true}, func(t *testing.T, m any) {
			if _, ok := m.(*offline.Model); !ok {
				t.Errorf("model is %T, want *offline.Model", m)
			}
		}},
		{"openai", "openai:gpt-4o", map[string]string{"OPENAI_API_KEY": "k"}, Info{Provider: "openai", Model: "gpt-4o"}, nil},
		{"openai-compatible without key", "openai:qwen", map[string]string{"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"}, Info{Provider: "openai", Model: "qwen"}, nil},
		{"anthropic", "anthropic:claude-sonnet-4-5", map[string]string{"ANTHROPIC_API_KEY": "k"}, Info{Provider: "anthropic", Model: "claude-sonnet-4-5"}, nil},
		{"ollama default host", "ollama:llama3.1:8b", nil, Info{Provider: "ollama", Model: "llama3.1:8b"}, func(t *testing.T, m any) {
			if _, ok := m.(*ollama.Model); !ok {
				t.Errorf("model is %T, want *ollama.Model", m)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, info, err := New(Config{Spec: tt.spec, Getenv: env(tt.env)})
			if err != nil {
				t.Fatal(err)
			}
			if info != tt.info {
				t.Errorf("info = %+v, want %+v", info, tt.info)
			}
			if m == nil {
				t.Fatal("nil model")
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

func TestNewOfflineNeedsNoEnvironment(t *testing.T) {
	// Getenv nil falls back to os.Getenv; offline must not need anything
	// from it.
	_, info, err := New(Config{})
	if err != nil || !info.Offline {
		t.Fatalf("New(Config{}) = %+v, %v; want offline", info, err)
	}
}

func TestNewErrors(t *testing.T) {
	const secret = "sk-live-SECRET"
	tests := []struct {
		name    string
		spec    string
		env     map[string]string
		want    error
		mention string
	}{
		{"bad spec", "gpt-4o", nil, ErrBadSpec, "openai:MODEL"},
		{"openai without key", "openai:gpt-4o", nil, ErrMissingKey, "OPENAI_API_KEY"},
		{"openai key for another provider", "openai:gpt-4o", map[string]string{"ANTHROPIC_API_KEY": secret}, ErrMissingKey, "OPENAI_API_KEY"},
		{"anthropic without key", "anthropic:claude-sonnet-4-5", map[string]string{"OPENAI_API_KEY": secret}, ErrMissingKey, "ANTHROPIC_API_KEY"},
		{"anthropic base URL does not replace key", "anthropic:claude-sonnet-4-5", map[string]string{"ANTHROPIC_BASE_URL": "http://127.0.0.1:1"}, ErrMissingKey, "ANTHROPIC_API_KEY"},
		{"openai base URL not http", "openai:gpt-4o", map[string]string{"OPENAI_API_KEY": secret, "OPENAI_BASE_URL": "ftp://user:" + secret + "@host/v1"}, ErrBadBaseURL, "OPENAI_BASE_URL"},
		{"openai base URL unparsable", "openai:gpt-4o", map[string]string{"OPENAI_API_KEY": secret, "OPENAI_BASE_URL": "http://user:" + secret + "@host:port/v1"}, ErrBadBaseURL, "OPENAI_BASE_URL"},
		{"anthropic base URL without host", "anthropic:claude-sonnet-4-5", map[string]string{"ANTHROPIC_API_KEY": secret, "ANTHROPIC_BASE_URL": "/v1"}, ErrBadBaseURL, "ANTHROPIC_BASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _, err := New(Config{Spec: tt.spec, Getenv: env(tt.env)})
			if !errors.Is(err, tt.want) {
				t.Fatalf("New = %T, %v; want %v", m, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %s", err, tt.mention)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q leaks a secret", err)
			}
		})
	}
	t.Run("bad ollama host", func(t *testing.T) {
		_, _, err := New(Config{Spec: "ollama:llama3", Getenv: env(map[string]string{"OLLAMA_HOST": "ftp://x"})})
		if err == nil || !strings.Contains(err.Error(), "ollama") {
			t.Errorf("err = %v, want an ollama host error", err)
		}
	})
}

// TestNewIgnoresProcessEnvironment: langchaingo reads OPENAI_* itself when an
// option is missing; New must pass everything so Config.Getenv is the only
// source.
func TestNewIgnoresProcessEnvironment(t *testing.T) {
	t.Setenv("OPENAI_ORGANIZATION", "org-from-process-env")
	t.Setenv("OPENAI_MODEL", "model-from-process-env")
	var org, model string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org = r.Header.Get("OpenAI-Organization")
		req := decodeJSON(t, r)
		model, _ = req["model"].(string)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(openAIText))
	}))
	t.Cleanup(srv.Close)

	m, _, err := New(Config{Spec: "openai:gpt-4o", HTTPClient: srv.Client(),
		Getenv: env(map[string]string{"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": srv.URL + "/v1"})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Call(t.Context(), "hi"); err != nil {
		t.Fatal(err)
	}
	if org != "" {
		t.Errorf("OpenAI-Organization = %q, taken from the process environment", org)
	}
	if model != "gpt-4o" {
		t.Errorf("model = %q, want gpt-4o", model)
	}
}
