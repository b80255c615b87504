// Package vanilla is the non-isolated baseline (VanillaGPT) the evaluation
// compares isolategpt with: the same apps and the same LLM, but one agent
// context that holds every app's tools and every app's description, feeds
// every app's output straight back into that context, and runs whatever
// the LLM calls — no planner, no spokes, no mediation, no permission
// prompts. Apps still run through a sandbox.Launcher, so the same app code
// answers in both architectures.
//
// It exists to be attacked. Do not use it for anything else.
package vanilla

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/actors/spoke"
	"github.com/isolategpt/isolategpt/engine/llm"
	"github.com/isolategpt/isolategpt/engine/llm/offline"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/specs"
)

// Defaults.
const (
	DefaultMaxTurns = 16
	// MemoryTurns is how many earlier turns of the user go back into the
	// context, as a conversation buffer would.
	MemoryTurns = 5
)

// Separator joins app and function in a tool name.
const Separator = "__"

// Config configures the baseline.
type Config struct {
	Catalog  *plan.Catalog
	Launcher sandbox.Launcher
	// Model is the one LLM context's model. Info.Offline with a nil Model
	// means the baseline's deterministic driver for the offline model.
	Model llms.Model
	Info  llm.Info
	// AppsDir holds each app's folder: AppsDir/<user>/<app>.
	AppsDir string
	// Memory keeps the users' earlier turns; nil means none is kept.
	Memory   Memory
	MaxTurns int
}

// Memory keeps each user's conversation across sessions.
type Memory interface {
	Recent(user string, n int) ([]Turn, error)
	Append(user string, t Turn) error
}

// Turn is one query and the answer the LLM gave.
type Turn struct {
	Query  string `json:"query"`
	Answer string `json:"answer"`
}

// Engine is a running baseline.
type Engine struct {
	cfg   Config
	model llms.Model
	tools []llms.Tool
	fns   map[string]toolRef
	sys   string
}

type toolRef struct {
	app *specs.Manifest
	fn  *specs.Function
}

// New builds the baseline.
func New(cfg Config) (*Engine, error) {
	if cfg.Catalog == nil || cfg.Launcher == nil {
		return nil, errors.New("vanilla: needs a catalog and a launcher")
	}
	if cfg.MaxTurns <= 0 {
		cfg.MaxTurns = DefaultMaxTurns
	}
	model := cfg.Model
	if model == nil {
		if !cfg.Info.Offline {
			return nil, errors.New("vanilla: no model")
		}
		model = NewOffline(cfg.Catalog)
	}
	e := &Engine{cfg: cfg, model: llm.Metered(model), fns: map[string]toolRef{}}
	var b strings.Builder
	b.WriteString("You are a helpful assistant with these apps. Use their tools to do what the user asks, then answer.\n")
	for _, id := range cfg.Catalog.IDs() {
		m, _ := cfg.Catalog.App(id)
		// Every app's own words go straight into the one context.
		fmt.Fprintf(&b, "\nApp %s: %s\n", m.ID, m.Description)
		if m.Instructions != "" {
			fmt.Fprintf(&b, "Instructions of %s: %s\n", m.ID, m.Instructions)
		}
		for _, f := range m.Functions {
			name := m.ID + Separator + f.Name
			params, err := json.Marshal(f.Input)
			if err != nil {
				return nil, fmt.Errorf("vanilla: %s schema: %w", name, err)
			}
			e.tools = append(e.tools, llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
				Name: name, Description: f.Description, Parameters: json.RawMessage(params),
			}})
			e.fns[name] = toolRef{app: m, fn: f}
		}
	}
	e.sys = b.String()
	return e, nil
}

// Session is one user's session: its apps stay started until Close.
type Session struct {
	e     *Engine
	user  string
	mu    sync.Mutex
	conns map[string]sandbox.Conn
}

// OpenSession starts a session. There is no front end: the baseline asks
// nobody anything.
func (e *Engine) OpenSession(_ context.Context, user string) (*Session, error) {
	if user == "" || strings.ContainsAny(user, "/\\") || user == "." || user == ".." {
		return nil, fmt.Errorf("vanilla: bad user %q", user)
	}
	return &Session{e: e, user: user, conns: map[string]sandbox.Conn{}}, nil
}

// Close stops the session's apps.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(s.conns)) {
		errs = append(errs, s.conns[id].Close())
	}
	s.conns = map[string]sandbox.Conn{}
	return errors.Join(errs...)
}

func (s *Session) conn(ctx context.Context, m *specs.Manifest) (sandbox.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.conns[m.ID]; ok {
		return c, nil
	}
	dir := filepath.Join(s.e.cfg.AppsDir, s.user, m.ID)
	c, err := s.e.cfg.Launcher.Launch(ctx, spoke.LaunchSpec(m), dir)
	if err != nil {
		return nil, fmt.Errorf("start app %s: %w", m.ID, err)
	}
	s.conns[m.ID] = c
	return c, nil
}

// Ask runs one query in the one context.
func (s *Session) Ask(ctx context.Context, query string) (*msg.Answer, error) {
	start := time.Now()
	ans := &msg.Answer{Model: "vanilla/" + s.e.cfg.Info.String(), Offline: s.e.cfg.Info.Offline, Steps: []msg.StepOutcome{}, Permissions: []msg.PermissionEvent{}}
	usage := &llm.Usage{}
	ctx = llm.WithUsage(ctx, usage)
	finish := func(text string, err error) (*msg.Answer, error) {
		if ans.Offline {
			text = strings.TrimSpace(text) + "\n\n(" + offline.Label + ", baseline)"
		}
		ans.Text = text
		u := usage.Snapshot()
		ans.Usage = msg.Usage{Calls: u.Calls, PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens}
		ans.Duration = time.Since(start)
		return ans, err
	}
	if strings.TrimSpace(query) == "" {
		return finish("", errors.New("empty query"))
	}
	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeSystem, s.e.sys)}
	if s.e.cfg.Memory != nil {
		turns, err := s.e.cfg.Memory.Recent(s.user, MemoryTurns)
		if err != nil {
			return finish("", fmt.Errorf("read memory: %w", err))
		}
		for _, t := range turns {
			msgs = append(msgs, llms.TextParts(llms.ChatMessageTypeHuman, t.Query), llms.TextParts(llms.ChatMessageTypeAI, t.Answer))
		}
	}
	msgs = append(msgs, llms.TextParts(llms.ChatMessageTypeHuman, query))
	for turn := 0; turn < s.e.cfg.MaxTurns; turn++ {
		resp, err := s.e.model.GenerateContent(ctx, msgs, llms.WithTools(s.e.tools))
		if err != nil {
			return finish("", fmt.Errorf("vanilla: model: %w", err))
		}
		if len(resp.Choices) == 0 {
			return finish("", errors.New("vanilla: model returned no choice"))
		}
		c := resp.Choices[0]
		if len(c.ToolCalls) == 0 {
			if s.e.cfg.Memory != nil {
				if err := s.e.cfg.Memory.Append(s.user, Turn{Query: query, Answer: c.Content}); err != nil {
					return finish(c.Content, fmt.Errorf("record memory: %w", err))
				}
			}
			return finish(c.Content, nil)
		}
		for _, tc := range c.ToolCalls {
			content := s.run(ctx, tc, ans)
			msgs = append(msgs,
				llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{tc}},
				llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{
					llms.ToolCallResponse{ToolCallID: tc.ID, Name: toolName(tc), Content: content},
				}})
		}
	}
	return finish("", fmt.Errorf("vanilla: no answer after %d turns", s.e.cfg.MaxTurns))
}

// run executes one tool call as the LLM wrote it — no schema check, no
// permission — and returns what goes back into the context: the app's
// output, whole.
func (s *Session) run(ctx context.Context, tc llms.ToolCall, ans *msg.Answer) string {
	name := toolName(tc)
	args := json.RawMessage("{}")
	if tc.FunctionCall != nil && strings.TrimSpace(tc.FunctionCall.Arguments) != "" {
		args = json.RawMessage(tc.FunctionCall.Arguments)
	}
	o := msg.StepOutcome{Step: fmt.Sprintf("t%d", len(ans.Steps)+1), Kind: string(plan.KindCall), Function: name}
	if json.Valid(args) {
		o.Args = args
	}
	defer func() { ans.Steps = append(ans.Steps, o) }()
	ref, ok := s.e.fns[name]
	if !ok {
		o.Status, o.Reason = msg.StatusFailed, "no such tool"
		return "error: no tool named " + name
	}
	o.App, o.Function = ref.app.ID, ref.fn.Name
	c, err := s.conn(ctx, ref.app)
	if err == nil {
		var out json.RawMessage
		out, err = c.CallTool(ctx, ref.fn.Name, args)
		if err == nil {
			o.Status = msg.StatusOK
			if json.Valid(out) {
				o.Result = out
			}
			return string(out)
		}
	}
	o.Status, o.Reason = msg.StatusFailed, err.Error()
	return "error: " + err.Error()
}

func toolName(tc llms.ToolCall) string {
	if tc.FunctionCall == nil {
		return ""
	}
	return tc.FunctionCall.Name
}
