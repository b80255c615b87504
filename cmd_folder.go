// The data folder: one process at a time opens its store. The first
// command to take the folder serves the ones that come after it on the
// folder's control socket (engine/control); a later command either runs
// there, with its stdio relayed, or waits — saying for whom — when the
// holder cannot run it (the TUI, another model).

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/control"
)

// common are the flags every data-folder command takes.
type common struct {
	data, llm, user string
	// planning: the command takes --llm (it plans queries), so the
	// engine's model matters to it.
	planning bool
	// weaker lets apps start in a sandbox missing layers the host cannot
	// give (cgroups, a private /proc, Landlock at its floor).
	weaker bool
	// readOnly: the command only reads, so it opens the store read-only
	// and writes nothing in it.
	readOnly bool
	// minFree is --min-free, in MiB.
	minFree int64
}

// register defines --data, --user and --llm.
func (c *common) register(fs *flag.FlagSet, env func(string) string) {
	c.registerData(fs, env)
	c.planning = true
	fs.StringVar(&c.llm, "llm", envOr(env, "ISOLATEGPT_LLM", "offline"), "model: offline | openai:MODEL | anthropic:MODEL | ollama:MODEL; env ISOLATEGPT_LLM")
}

// registerData defines --data, --user and --allow-weaker-sandbox, for
// commands that plan nothing.
func (c *common) registerData(fs *flag.FlagSet, env func(string) string) {
	fs.StringVar(&c.data, "data", DefaultDataDir(env), "data folder (store, apps' folders, log); env ISOLATEGPT_DATA")
	fs.StringVar(&c.user, "user", envOr(env, "ISOLATEGPT_USER", "default"), "user id (letters, digits, _ . -)")
	registerWeaker(fs, &c.weaker, env)
	registerMinFree(fs, &c.minFree, env)
}

// registerWeaker defines --allow-weaker-sandbox.
func registerWeaker(fs *flag.FlagSet, v *bool, env func(string) string) {
	fs.BoolVar(v, "allow-weaker-sandbox", envOr(env, "ISOLATEGPT_ALLOW_WEAKER_SANDBOX", "") == "1", "start apps even where this host cannot give every sandbox layer (see isolategpt sandbox status); env ISOLATEGPT_ALLOW_WEAKER_SANDBOX=1")
}

func envOr(env func(string) string, key, def string) string {
	if env == nil {
		return def
	}
	if v := env(key); v != "" {
		return v
	}
	return def
}

// DefaultDataDir is $ISOLATEGPT_DATA, else $XDG_DATA_HOME/isolategpt, else
// ~/.local/share/isolategpt.
func DefaultDataDir(env func(string) string) string {
	if env == nil {
		env = func(string) string { return "" }
	}
	if v := env("ISOLATEGPT_DATA"); v != "" {
		return v
	}
	if v := env("XDG_DATA_HOME"); v != "" {
		return filepath.Join(v, "isolategpt")
	}
	if home := env("HOME"); home != "" {
		return filepath.Join(home, ".local", "share", "isolategpt")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "isolategpt")
	}
	return "isolategpt-data"
}

// model is the --llm value, "offline" for commands that plan nothing.
func (c *common) model() string {
	if c.planning && c.llm != "" {
		return c.llm
	}
	return "offline"
}

// relayInterrupts: a relayed ask or batch tells the holder of its first
// signal and waits for the answer; off only in the test that shows what
// that prevents (the client hung up, the answer lost).
var relayInterrupts = true

// served is the data folder's engine, lent to a command that runs for
// another process.
type served struct {
	engine  *engine.Engine
	data    string
	llm     string
	weaker  bool
	session *control.Session
	// readOnly: the store is open read-only; commands that write wait.
	readOnly bool
	// observe hears what served commands do (the TUI shows it).
	observe func(any)
}

// ServedQuery tells the holder's observer about a query another process
// asked through it, and, with Answer or Err set, how it ended.
type ServedQuery struct {
	PeerPID int
	Query   string
	Done    bool
	Answer  any
	Err     error
}

func (s *served) note(ev any) {
	if s != nil && s.observe != nil {
		s.observe(ev)
	}
}

// holdOptions are what the holding command adds to the folder's service.
type holdOptions struct {
	// observe hears every command served and what served queries do.
	observe func(any)
	// alone, when set, runs instead of an engine while this process
	// holds the folder, serving nothing (store check, backup, restore).
	alone func() int
}

// withEngine runs fn on the data folder's engine. If this process may
// take the folder, it opens the engine and serves later commands until fn
// returns and they are done. If another isolategpt holds it, the whole
// command (stdio.Argv) runs there; if that one cannot run it, this waits
// for the folder and says why.
func (c *common) withEngine(stdio IO, name string, o holdOptions, fn func(e *engine.Engine) int) int {
	c.data = stdio.path(c.data)
	if s := stdio.served; s != nil {
		if !sameFolder(c.data, s.data) {
			s.session.Unserved("it holds the data folder " + s.data)
			return ExitUsage
		}
		if c.model() != s.llm && c.planning {
			s.session.Unserved(fmt.Sprintf("it plans with --llm %s, and this command asks for %s", s.llm, c.model()))
			return ExitUsage
		}
		// Its apps' sandbox is as strong as the user chose for them, both
		// ways.
		if c.weaker != s.weaker {
			s.session.Unserved(fmt.Sprintf("it starts apps with --allow-weaker-sandbox=%v, and this command asks for %v", s.weaker, c.weaker))
			return ExitUsage
		}
		if s.readOnly && !c.readOnly {
			s.session.Unserved("it opened the store read-only, and this command writes")
			return ExitUsage
		}
		return fn(s.engine)
	}
	ctx := stdio.ctx()
	if ctx.Err() != nil {
		// A signal before the command started: nothing is held, opened
		// or run.
		fmt.Fprintf(stdio.Err, "isolategpt %s: interrupted before it started; nothing was done (exit %d)\n", name, stoppedCode(ctx))
		return stoppedCode(ctx)
	}
	var waiting string
	start := time.Now()
	for {
		h, err := control.Hold(c.data, name)
		if err == nil && o.alone != nil {
			defer h.Close()
			return o.alone()
		}
		if err == nil {
			return c.hold(h, stdio, name, o, fn)
		}
		if !errors.Is(err, control.ErrHeld) {
			fmt.Fprintf(stdio.Err, "isolategpt %s: %v\n", name, err)
			return ExitUsage
		}
		why := err.Error() + ", which is starting"
		if cl, derr := control.Dial(c.data); derr == nil {
			relay, interrupt := ctx, (<-chan struct{})(nil)
			if stdio.relay != nil && relayInterrupts {
				relay, interrupt = stdio.relay, ctx.Done()
			}
			code, rerr := cl.RunInterruptible(relay, interrupt, c.request(stdio), stdio.In, stdio.Out, stdio.Err)
			cl.Close()
			var un *control.UnservedError
			switch {
			case rerr == nil:
				return code
			case errors.As(rerr, &un):
				why = fmt.Sprintf("data folder %s is in use by %s, which cannot run this command: %s", c.data, un.Holder, un.Reason)
			case relay.Err() != nil:
				// A second signal, this command's caller went away, or
				// its time ran out: the holder was told by the hang-up.
				return stoppedCode(relay)
			default:
				// The holder went away while running it: the command may
				// have done part of its work, so it is not run again.
				fmt.Fprintf(stdio.Err, "isolategpt %s: %v\n", name, rerr)
				return ExitFailed
			}
		} else if errors.Is(derr, control.ErrUnsafe) || errors.Is(derr, control.ErrPeer) {
			fmt.Fprintf(stdio.Err, "isolategpt %s: %v\n", name, derr)
			return ExitUsage
		}
		if why != waiting && time.Since(start) > 300*time.Millisecond {
			fmt.Fprintf(stdio.Err, "isolategpt %s: waiting: %s (Ctrl+C gives up)\n", name, why)
			waiting = why
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(stdio.Err, "isolategpt %s: gave up waiting for the data folder %s\n", name, c.data)
			return stoppedCode(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// request is this command as the holder should run it.
func (c *common) request(stdio IO) control.Request {
	dir := stdio.Dir
	if dir == "" {
		dir, _ = os.Getwd()
	}
	// The holder reads this environment instead of its own; what this
	// command resolved from its own (the folder, user and model) goes
	// first-hand.
	weaker := "0"
	if c.weaker {
		weaker = "1"
	}
	env := append(os.Environ(), "ISOLATEGPT_DATA="+c.data, "ISOLATEGPT_USER="+c.user, "ISOLATEGPT_ALLOW_WEAKER_SANDBOX="+weaker)
	if c.planning {
		env = append(env, "ISOLATEGPT_LLM="+c.llm)
	}
	return control.Request{Args: stdio.Argv, Dir: dir, Env: env, InTerminal: stdio.InTTY, OutTerminal: stdio.OutTTY}
}

// hold opens the engine on a folder this process holds, serves later
// commands while fn runs, and lets the ones in flight finish.
func (c *common) hold(h *control.Holder, stdio IO, name string, o holdOptions, fn func(e *engine.Engine) int) int {
	e, closeEngine, err := c.open(stdio)
	if err != nil {
		h.Close()
		fmt.Fprintf(stdio.Err, "isolategpt %s: %v\n", name, err)
		return storeExit(err, ExitUsage)
	}
	s := &served{engine: e, data: c.data, llm: c.model(), weaker: c.weaker, observe: o.observe, readOnly: c.readOnly}
	serve := func(ctx context.Context, sess *control.Session) int { return serveCommand(ctx, sess, s) }
	so := control.ServeOptions{Logger: e.Logger().With("component", "control")}
	if o.observe != nil {
		so.Observe = func(ev control.Event) { o.observe(ev) }
	}
	if err := h.Serve(serve, so); err != nil {
		// The command still runs; later ones wait for the folder.
		e.Logger().Error("control socket", "err", err)
	}
	code := fn(e)
	if active := h.Active(); len(active) > 0 {
		var pids []string
		for _, a := range active {
			pids = append(pids, fmt.Sprintf("pid %d", a.PeerPID))
		}
		fmt.Fprintf(stdio.Err, "isolategpt %s: finishing %d command(s) other processes run on this data folder (%s)…\n", name, len(active), strings.Join(pids, ", "))
	}
	// In this order: no command may still use the store when it closes,
	// and the next process may open the store only once it is closed.
	h.StopServing()
	closeEngine()
	h.Close()
	return code
}

// open starts an engine on the data folder, logging to a file in it.
func (c *common) open(stdio IO) (*engine.Engine, func(), error) {
	if err := control.MakeFolder(c.data); err != nil {
		return nil, nil, fmt.Errorf("data folder %s: %w", c.data, err)
	}
	logFile, err := os.OpenFile(filepath.Join(c.data, "isolategpt.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("data folder %s: log: %w", c.data, err)
	}
	logger := slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	logCrashes(logFile, logger)
	var e *engine.Engine
	// This process holds the folder's lock, so a store still locked is
	// one a process that does not take it has open (an isolategpt of
	// before the lock, a tool): wait a moment, then say so plainly.
	for start := time.Now(); ; {
		e, err = engine.New(engine.Config{DataDir: c.data, LLM: c.model(), Getenv: stdio.Getenv, Logger: logger, AllowWeakerSandbox: c.weaker,
			ReadOnly: c.readOnly, MinFree: c.minFreeBytes()})
		if err == nil || !strings.Contains(err.Error(), "Cannot acquire directory lock") {
			break
		}
		if time.Since(start) > 5*time.Second {
			err = fmt.Errorf("data folder %s: its store is open in another process that does not take the folder's lock (%s); close that process", c.data, control.LockFile)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		// The log is where a user looks for why the folder did not
		// open, after stderr.
		logger.Error("open the data folder", "err", err)
		folderLog.Store(nil)
		logFile.Close()
		return nil, nil, err
	}
	return e, func() { e.Close(); folderLog.Store(nil); logFile.Close() }, nil
}

// serveCommand runs a command another process sent, on this process's
// engine, with that process's stdio, environment and working folder.
func serveCommand(ctx context.Context, sess *control.Session, s *served) int {
	r := sess.Request
	env := map[string]string{}
	for _, kv := range r.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	sub := *s
	sub.session = sess
	stdio := IO{
		In: sess.Stdin, Out: sess.Stdout, Err: logStderr(sess.Stderr),
		Getenv: func(k string) string { return env[k] },
		InTTY:  r.InTerminal, OutTTY: r.OutTerminal,
		Dir: r.Dir, Ctx: ctx, Argv: r.Args, served: &sub,
	}
	if c := root.sub(r.Args[0]); c == nil || !c.folder {
		sess.Unserved(fmt.Sprintf("isolategpt %s runs only in its own process", r.Args[0]))
		return ExitUsage
	}
	return dispatch(r.Args, stdio)
}

// sameFolder reports whether two paths name the same folder.
func sameFolder(a, b string) bool {
	if a == b {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
