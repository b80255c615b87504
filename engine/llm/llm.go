// Package llm chooses the language model named by --llm, builds it from the
// environment, and meters the calls and tokens each query spends.
package llm

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/anthropic"
	"github.com/tmc/langchaingo/llms/openai"

	"github.com/isolategpt/isolategpt/engine/llm/offline"
	"github.com/isolategpt/isolategpt/engine/llm/ollama"
)

// Provider names accepted before the colon in --llm.
const (
	ProviderOffline   = "offline"
	ProviderOpenAI    = "openai"
	ProviderAnthropic = "anthropic"
	ProviderOllama    = "ollama"
)

// acceptedForms is quoted in every spec error so the user sees the fix.
const acceptedForms = "want offline, openai:MODEL, anthropic:MODEL or ollama:MODEL"

const (
	defaultOpenAIBaseURL    = "https://api.openai.com/v1"
	defaultAnthropicBaseURL = "https://api.anthropic.com/v1"
	// placeholderKey is sent to OpenAI-compatible local servers, which
	// ignore the key but whose clients insist on one.
	placeholderKey = "unused"
)

// Info names the model New built, for the status line and the audit log.
type Info struct {
	Provider string
	Model    string
	Offline  bool
}

// String returns "offline" or "provider:model".
func (i Info) String() string {
	if i.Offline {
		return ProviderOffline
	}
	return i.Provider + ":" + i.Model
}

// Config selects and configures a model.
type Config struct {
	// Spec is the --llm value: "offline", "openai:MODEL", "anthropic:MODEL"
	// or "ollama:MODEL". Empty means offline.
	Spec string
	// Getenv reads the environment (API keys, base URLs, OLLAMA_HOST). Nil
	// means os.Getenv.
	Getenv func(string) string
	// HTTPClient, when set, carries every provider's requests.
	HTTPClient *http.Client
}

// New builds the model cfg.Spec names. Keys and endpoints come from the
// environment:
//
//	openai     OPENAI_API_KEY, OPENAI_BASE_URL (an OpenAI-compatible server:
//	           vLLM, llama.cpp, Ollama's /v1; the key may then be omitted),
//	           OPENAI_ORGANIZATION
//	anthropic  ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL (with or without /v1)
//	ollama     OLLAMA_HOST (default http://127.0.0.1:11434)
//
// Only cfg.Getenv is consulted, never the process environment behind its
// back, so what a test passes is all a provider sees.
func New(cfg Config) (llms.Model, Info, error) {
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	provider, model, err := ParseSpec(cfg.Spec)
	if err != nil {
		return nil, Info{}, err
	}
	info := Info{Provider: provider, Model: model}

	var m llms.Model
	switch provider {
	case ProviderOffline:
		info.Offline = true
		m = offline.New()
	case ProviderOpenAI:
		m, err = newOpenAI(model, getenv, cfg.HTTPClient)
	case ProviderAnthropic:
		m, err = newAnthropic(model, getenv, cfg.HTTPClient)
	case ProviderOllama:
		// ollama's errors already name the provider.
		if m, err = ollama.New(getenv("OLLAMA_HOST"), model, cfg.HTTPClient); err != nil {
			return nil, Info{}, fmt.Errorf("llm: %w", err)
		}
	}
	if err != nil {
		return nil, Info{}, fmt.Errorf("llm: %s: %w", provider, err)
	}
	return m, info, nil
}

// ParseSpec splits an --llm value into provider and model. The model is
// everything after the first colon, so Ollama tags such as
// "ollama:llama3.1:8b" keep theirs.
func ParseSpec(spec string) (provider, model string, err error) {
	s := strings.TrimSpace(spec)
	if s == "" || strings.EqualFold(s, ProviderOffline) {
		return ProviderOffline, "", nil
	}
	p, m, ok := strings.Cut(s, ":")
	p, m = strings.ToLower(strings.TrimSpace(p)), strings.TrimSpace(m)
	switch {
	case p == ProviderOffline:
		return "", "", fmt.Errorf("llm: %w %q: offline takes no model; %s", ErrBadSpec, spec, acceptedForms)
	case p != ProviderOpenAI && p != ProviderAnthropic && p != ProviderOllama:
		return "", "", fmt.Errorf("llm: %w %q: unknown provider %q; %s", ErrBadSpec, spec, p, acceptedForms)
	case !ok || m == "":
		return "", "", fmt.Errorf("llm: %w %q: no model after %q; %s", ErrBadSpec, spec, p+":", acceptedForms)
	case strings.ContainsFunc(m, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return "", "", fmt.Errorf("llm: %w %q: model name contains spaces or control characters; %s", ErrBadSpec, spec, acceptedForms)
	}
	return p, m, nil
}

func newOpenAI(model string, getenv func(string) string, client *http.Client) (llms.Model, error) {
	key, base := getenv("OPENAI_API_KEY"), strings.TrimSpace(getenv("OPENAI_BASE_URL"))
	if key == "" {
		if base == "" {
			return nil, fmt.Errorf("%w: set OPENAI_API_KEY, or OPENAI_BASE_URL for an OpenAI-compatible server", ErrMissingKey)
		}
		key = placeholderKey
	}
	if base == "" {
		base = defaultOpenAIBaseURL
	}
	if err := checkBaseURL(base); err != nil {
		return nil, fmt.Errorf("OPENAI_BASE_URL: %w", err)
	}
	// Every option is passed explicitly: left unset, the library would read
	// os.Getenv itself and bypass Config.Getenv.
	m, err := openai.New(
		openai.WithModel(model),
		openai.WithToken(key),
		openai.WithBaseURL(base),
		openai.WithOrganization(getenv("OPENAI_ORGANIZATION")),
		openai.WithHTTPClient(capped(client)),
	)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func newAnthropic(model string, getenv func(string) string, client *http.Client) (llms.Model, error) {
	key, base := getenv("ANTHROPIC_API_KEY"), strings.TrimSpace(getenv("ANTHROPIC_BASE_URL"))
	if key == "" {
		return nil, fmt.Errorf("%w: set ANTHROPIC_API_KEY", ErrMissingKey)
	}
	if base == "" {
		base = defaultAnthropicBaseURL
	}
	if err := checkBaseURL(base); err != nil {
		return nil, fmt.Errorf("ANTHROPIC_BASE_URL: %w", err)
	}
	// Anthropic's own SDKs take the base URL without the API version; the
	// langchaingo client wants it with.
	base = strings.TrimRight(base, "/")
	if !strings.HasSuffix(base, "/v1") {
		base += "/v1"
	}
	m, err := anthropic.New(
		anthropic.WithModel(model),
		anthropic.WithToken(key),
		anthropic.WithBaseURL(base),
		anthropic.WithHTTPClient(capped(client)),
	)
	if err != nil {
		return nil, err
	}
	return mergedChoices{m}, nil
}

func checkBaseURL(s string) error {
	// The URL may carry credentials, so errors quote it redacted or not at all.
	u, err := url.Parse(s)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("%w: %w", ErrBadBaseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: %q is not an http(s) URL", ErrBadBaseURL, u.Redacted())
	}
	return nil
}
