// Package spoke is the spoke actor: one per app per user session. It owns
// the connection to its app (an in-process app today, a sandboxed worker
// with the sandbox issue), runs direct calls without any LLM, runs the app's
// agent loop when a step needs reasoning, and reaches other apps only by
// sending ISC requests to its parent, the hub.
package spoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/actors/rpc"
	"github.com/isolategpt/isolategpt/engine/agent"
	"github.com/isolategpt/isolategpt/engine/apps"
	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/label"
	"github.com/isolategpt/isolategpt/engine/llm"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/specs"
)

// Defaults.
const (
	DefaultIdleTimeout = 2 * time.Minute
	DefaultCallTimeout = 30 * time.Second
	memoryEntries      = 6
)

// Deps are what a spoke needs. The spoke's parent must be the hub.
type Deps struct {
	App *specs.Manifest
	// User and SessionID are whose session this spoke serves (for the
	// attribution of what its worker does).
	User      string
	SessionID string
	Launcher  sandbox.Launcher
	DataDir   string // the app's own folder
	// InstallDir is the folder an installed app's files are in, Installed
	// holds an MCP app's tools/list pin, and Getenv reads the hub's
	// environment for the names an MCP manifest allows.
	InstallDir string
	Installed  Installed
	Getenv     func(string) string
	Memory     *store.SpokeMemory
	Model      llms.Model
	// Peers are the other apps' functions this spoke may request through
	// the hub: identifiers and typed schemas only.
	Peers       []plan.AppEntry
	IdleTimeout time.Duration
	CallTimeout time.Duration
	Logger      *slog.Logger
	// Defences is which defences are on (all, outside the evaluation).
	Defences defence.Set
}

// Props returns a spoke's props.
func Props(d Deps) *actor.Props {
	if d.IdleTimeout <= 0 {
		d.IdleTimeout = DefaultIdleTimeout
	}
	if d.CallTimeout <= 0 {
		d.CallTimeout = DefaultCallTimeout
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return actor.PropsFromProducer(func() actor.Actor { return &spoke{d: d} })
}

type spoke struct {
	d      Deps
	client *rpc.Client
	system *actor.ActorSystem
	self   *actor.PID
	hub    *actor.PID
	ctx    context.Context
	cancel context.CancelFunc
	app    *appConn
	// calls counts the calls its worker is running, for WorkerChanged.
	calls atomic.Int32
}

// crashed carries a panic from a worker goroutine back into Receive, so the
// hub's supervision sees it.
type crashed struct{ reason any }

func (s *spoke) Receive(ctx actor.Context) {
	if s.client != nil && s.client.Handle(ctx) {
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.system, s.self, s.hub = ctx.ActorSystem(), ctx.Self(), ctx.Parent()
		s.client = rpc.NewClient(s.system, s.self)
		s.ctx, s.cancel = context.WithCancel(context.Background())
		spec := s.launchSpec()
		spec.User, spec.Session = s.d.User, s.d.SessionID
		s.app = &appConn{launcher: s.d.Launcher, app: spec, dir: s.d.DataDir, notify: s.workerChanged}
		if s.d.App.MCP != nil {
			s.app.verify = s.verifyTools
		}
		ctx.SetReceiveTimeout(s.d.IdleTimeout)
	case *actor.Stopping, *actor.Restarting:
		s.cancel()
		s.client.Close()
		if err := s.app.close(); err != nil {
			s.d.Logger.Warn("close app", "app", s.d.App.ID, "err", err)
		}
	case *actor.ReceiveTimeout:
		ctx.Request(s.hub, &msg.SpokeIdle{})
		// protoactor cancels the timer when it fires; re-arm it, or a
		// timeout that fired while a call was in flight (which the hub
		// ignores) would keep this spoke and its worker alive forever.
		ctx.SetReceiveTimeout(s.d.IdleTimeout)
	case *msg.InvokeRequest:
		sender := ctx.Sender()
		// Calls run concurrently, each in its own goroutine, so that a long
		// agent loop waiting on the hub never blocks this mailbox.
		go func() {
			reply := s.serve(m)
			reply.CallID, reply.QueryID = m.CallID, m.QueryID
			if sender != nil {
				s.system.Root.Send(sender, reply)
			}
		}()
	case *crashed:
		panic(m.reason)
	}
}

// serve runs one invocation. A panic is answered as a failure of this step
// and then handed to the supervisor.
func (s *spoke) serve(m *msg.InvokeRequest) (reply *msg.InvokeReply) {
	defer func() {
		if v := recover(); v != nil {
			reply = &msg.InvokeReply{Err: fmt.Sprintf("spoke %s crashed", s.d.App.ID)}
			s.selfSend(&crashed{reason: v})
		}
	}()
	ctx, cancel := context.WithTimeout(s.ctx, s.d.CallTimeout)
	defer cancel()
	ctx = withQuery(ctx, m.QueryID)
	if m.Task == "" {
		out, err := s.callOwn(ctx, m.Function, m.Args)
		return resultReply(out, err)
	}
	usage := &llm.Usage{}
	ctx = llm.WithUsage(ctx, usage)
	memory, err := s.memory()
	if err != nil {
		return &msg.InvokeReply{Err: "read spoke memory: " + err.Error()}
	}
	loop := &agent.Loop{Model: s.d.Model, App: s.d.App, Peers: s.d.Peers}
	text, trace, err := loop.Run(ctx, m.Task, memory, &tools{s: s, queryID: m.QueryID})
	u := usage.Snapshot()
	reply = &msg.InvokeReply{Tools: trace, Usage: msg.Usage{Calls: u.Calls, PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens}}
	if len(memory) > 0 {
		// Earlier tasks are the planner's words from earlier queries.
		reply.Labels = label.Of(label.Label{Kind: label.Memory})
	}
	if err != nil {
		reply.Err = err.Error()
		return reply
	}
	if s.d.Memory != nil {
		now := time.Now().UTC()
		_ = s.d.Memory.Append(store.Entry{At: now, QueryID: m.QueryID, Role: "task", Text: m.Task})
		_ = s.d.Memory.Append(store.Entry{At: now, QueryID: m.QueryID, Role: "answer", Text: text})
	}
	reply.Result, _ = json.Marshal(map[string]string{"text": text})
	return reply
}

// memory is what the app's assistant is shown of its earlier sessions:
// the tasks the planner gave it, never its own earlier answers, which can
// quote what it read (an injected email) and would re-arm it after the
// source is gone. With the spoke_memory_tasks defence off, answers too.
func (s *spoke) memory() ([]store.Entry, error) {
	if s.d.Memory == nil {
		return nil, nil
	}
	recent, err := s.d.Memory.Recent(memoryEntries)
	if err != nil || !s.d.Defences.On(defence.SpokeMemoryTasks) {
		return recent, err
	}
	var tasks []store.Entry
	for _, e := range recent {
		if e.Role == "task" {
			tasks = append(tasks, e)
		}
	}
	return tasks, nil
}

func (s *spoke) selfSend(m any) {
	s.system.Root.Send(s.self, m)
}

func resultReply(out json.RawMessage, err error) *msg.InvokeReply {
	if err == nil {
		return &msg.InvokeReply{Result: out}
	}
	var te *sandbox.ToolError
	if errors.As(err, &te) {
		return &msg.InvokeReply{Err: te.Message, AppErr: true}
	}
	return &msg.InvokeReply{Err: err.Error()}
}

func (s *spoke) callOwn(ctx context.Context, function string, args json.RawMessage) (json.RawMessage, error) {
	conn, err := s.app.get(ctx)
	if err != nil {
		return nil, err
	}
	// An MCP app's function is called by its tool's name, with the
	// server's property names; its structured result comes back under the
	// hub's identifiers.
	ctx, tool, args, f, err := s.mcpCall(ctx, function, args)
	if err != nil {
		return nil, err
	}
	s.workerChanged(msg.WorkerChanged{State: msg.WorkerBusy, PID: pidOf(conn), Calls: int(s.calls.Add(1))})
	out, err := conn.CallTool(ctx, tool, args)
	if err == nil {
		out, err = mcpResult(f, out)
	}
	n := int(s.calls.Add(-1))
	switch {
	case errors.Is(err, sandbox.ErrDead):
		s.workerChanged(msg.WorkerChanged{State: msg.WorkerKilled, PID: pidOf(conn), Calls: n, Cause: sandbox.Cause(err), Reason: err.Error()})
	case n == 0:
		s.workerChanged(msg.WorkerChanged{State: msg.WorkerReady, PID: pidOf(conn)})
	}
	if errors.Is(err, sandbox.ErrDead) {
		// The worker is gone (a limit, a crash): this call fails with the
		// reason; the failure goes to the hub's supervisor, which records
		// it and restarts this spoke, and the next call gets a fresh worker.
		s.app.drop(conn)
		s.selfSend(&crashed{reason: fmt.Sprintf("worker of %s: %v", s.d.App.ID, err)})
	}
	return out, err
}

// workerChanged publishes a change of this spoke's worker for observers.
func (s *spoke) workerChanged(ev msg.WorkerChanged) {
	ev.App, ev.Spoke = s.d.App.ID, s.self.Id
	s.system.EventStream.Publish(&ev)
}

func pidOf(c sandbox.Conn) int {
	if p, ok := c.(sandbox.PIDer); ok {
		return p.PID()
	}
	return 0
}

// tools is what the agent loop may do, as this spoke.
type tools struct {
	s       *spoke
	queryID string
}

func (t *tools) CallOwn(ctx context.Context, function string, args json.RawMessage) (json.RawMessage, error) {
	return t.s.callOwn(ctx, function, args)
}

func (t *tools) CallPeer(ctx context.Context, function string, args json.RawMessage) (json.RawMessage, error) {
	r, err := t.s.client.Call(ctx, t.s.hub, &msg.ISCRequest{QueryID: t.queryID, Function: function, Args: args})
	if err != nil {
		return nil, err
	}
	rep, ok := r.(*msg.ISCReply)
	if !ok {
		return nil, fmt.Errorf("hub answered with %T", r)
	}
	if rep.Err != "" {
		return nil, errors.New(rep.Err)
	}
	return rep.Result, nil
}

func (t *tools) Approve(ctx context.Context, function string, args json.RawMessage) (bool, string, error) {
	r, err := t.s.client.Call(ctx, t.s.hub, &msg.ExecRequest{QueryID: t.queryID, Function: function, Args: args})
	if err != nil {
		return false, "", err
	}
	rep, ok := r.(*msg.ExecReply)
	if !ok {
		return false, "", fmt.Errorf("hub answered with %T", r)
	}
	return rep.Allowed, rep.Reason, nil
}

// appConn starts the app on first use and keeps the connection.
type appConn struct {
	launcher sandbox.Launcher
	app      sandbox.App
	dir      string
	notify   func(msg.WorkerChanged)
	// verify checks a fresh worker before its first call (an MCP app's
	// tools/list pin) and may replace it; blocked is set when the user
	// refused to let the app run.
	verify  func(context.Context, sandbox.Conn) (sandbox.Conn, error)
	blocked error
	mu      sync.Mutex
	conn    sandbox.Conn
	closed  bool
}

func (a *appConn) get(ctx context.Context) (sandbox.Conn, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, sandbox.ErrClosed
	}
	if a.blocked != nil {
		return nil, a.blocked
	}
	if a.conn == nil {
		a.notify(msg.WorkerChanged{State: msg.WorkerStarting})
		c, err := a.launcher.Launch(ctx, a.app, a.dir)
		if err != nil {
			a.notify(msg.WorkerChanged{State: msg.WorkerFailed, Reason: err.Error()})
			return nil, fmt.Errorf("start app %s: %w", a.app.ID, err)
		}
		if a.verify != nil {
			if c, err = a.verify(ctx, c); err != nil {
				a.notify(msg.WorkerChanged{State: msg.WorkerFailed, Reason: err.Error()})
				if errors.Is(err, ErrToolsDenied) {
					a.blocked = err
				}
				return nil, err
			}
		}
		a.conn = c
		a.notify(msg.WorkerChanged{State: msg.WorkerReady, PID: pidOf(c)})
	}
	return a.conn, nil
}

// drop forgets a dead connection, if it is still the current one.
func (a *appConn) drop(c sandbox.Conn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn == c {
		_ = c.Close()
		a.conn = nil
	}
}

func (a *appConn) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.conn == nil {
		return nil
	}
	err := a.conn.Close()
	a.notify(msg.WorkerChanged{State: msg.WorkerStopped, PID: pidOf(a.conn)})
	a.conn = nil
	return err
}

// LaunchSpec is what the launcher is told about an app: facts from its
// pinned manifest. An MCP app needs its folders too and gets no command
// here; a spoke uses launchSpec.
func LaunchSpec(m *specs.Manifest) sandbox.App {
	return apps.LaunchSpec(m, "", "", nil)
}

// launchSpec is LaunchSpec with this spoke's folders and the hub's
// environment, for MCP apps. ${data} is the data folder where the app
// sees it, inside its sandbox.
func (s *spoke) launchSpec() sandbox.App {
	return apps.LaunchSpec(s.d.App, s.d.InstallDir, sandbox.DataPath, s.d.Getenv)
}
