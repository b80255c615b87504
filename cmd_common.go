// The command layer: ask, batch and audit, with the terminal permission
// prompter. It sits at the top of the dependency graph (it imports the
// engine, the TUI and the evaluation; nothing imports it).

package main

import (
	"context"
	"encoding/json"

	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/batch"
	"github.com/isolategpt/isolategpt/engine/execute"
	"github.com/isolategpt/isolategpt/engine/store"
	ut "github.com/isolategpt/isolategpt/engine/untrusted"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitFailed = 1 // the command ran, and something in it failed
	ExitUsage  = 2 // bad flags, configuration or data folder
)

// IO is the command's standard streams and environment.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
	Getenv   func(string) string
}

// common are the flags every command takes.
type common struct {
	data, llm, user string
}

func (c *common) register(fs *flag.FlagSet, env func(string) string) {
	fs.StringVar(&c.data, "data", DefaultDataDir(env), "data folder (store, apps' folders, log); env ISOLATEGPT_DATA")
	fs.StringVar(&c.llm, "llm", envOr(env, "ISOLATEGPT_LLM", "offline"), "model: offline | openai:MODEL | anthropic:MODEL | ollama:MODEL; env ISOLATEGPT_LLM")
	fs.StringVar(&c.user, "user", envOr(env, "ISOLATEGPT_USER", "default"), "user id (letters, digits, _ . -)")
}

func envOr(env func(string) string, key, def string) string {
	if v := env(key); v != "" {
		return v
	}
	return def
}

// DefaultDataDir is $ISOLATEGPT_DATA, else $XDG_DATA_HOME/isolategpt, else
// ~/.local/share/isolategpt.
func DefaultDataDir(env func(string) string) string {
	if v := env("ISOLATEGPT_DATA"); v != "" {
		return v
	}
	if v := env("XDG_DATA_HOME"); v != "" {
		return filepath.Join(v, "isolategpt")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "isolategpt")
	}
	return "isolategpt-data"
}

// open starts an engine on the data folder, logging to a file in it.
func (c *common) open(stdio IO) (*engine.Engine, func(), error) {
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return nil, nil, fmt.Errorf("data folder %s: %w", c.data, err)
	}
	logFile, err := os.OpenFile(filepath.Join(c.data, "isolategpt.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("data folder %s: log: %w", c.data, err)
	}
	logger := slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e, err := engine.New(engine.Config{DataDir: c.data, LLM: c.llm, Getenv: stdio.Getenv, Logger: logger})
	if err != nil {
		logFile.Close()
		return nil, nil, err
	}
	return e, func() { e.Close(); logFile.Close() }, nil
}

// Ask runs `isolategpt ask [flags] QUERY`.
func Ask(args []string, stdio IO) int {
	fs := flag.NewFlagSet("ask", flag.ContinueOnError)
	fs.SetOutput(stdio.Err)
	var c common
	c.register(fs, stdio.Getenv)
	yes := fs.Bool("yes", false, "allow every permission prompt once, without asking")
	asJSON := fs.Bool("json", false, "print the whole answer (plan, steps, permissions) as JSON")
	arch := archFlag(fs)
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stdio.Err, "usage: isolategpt ask [flags] QUERY")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	query := strings.TrimSpace(strings.Join(fs.Args(), " "))
	if query == "" {
		fmt.Fprintln(stdio.Err, "isolategpt ask: empty query")
		fs.Usage()
		return ExitUsage
	}
	if !checkArch(*arch, stdio, "ask") {
		return ExitUsage
	}
	e, closeAll, err := c.open(stdio)
	if err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt ask: %v\n", err)
		return ExitUsage
	}
	defer closeAll()
	var p frontend.Prompter
	if *yes {
		p = NewYes(stdio.Err)
	} else {
		t := NewTerminal(stdio.In, stdio.Err)
		t.DiscardTypeAhead = isTerminal(stdio.In)
		p = t
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var s batch.Session
	if *arch == archVanilla {
		open, err := vanillaOpener(&c, e, stdio)
		if err == nil {
			s, err = open(ctx, c.user, p)
		}
		if err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt ask: %v\n", err)
			return ExitUsage
		}
	} else {
		es, err := e.OpenSession(ctx, c.user, p)
		if err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt ask: %v\n", err)
			return ExitUsage
		}
		s = es
	}
	defer s.Close()
	ans, err := s.Ask(ctx, query)
	if *asJSON && ans != nil {
		enc := json.NewEncoder(ut.JSONWriter(stdio.Out))
		enc.SetIndent("", "  ")
		_ = enc.Encode(ans)
	} else if ans != nil {
		fmt.Fprintln(stdio.Out, ans.Text)
	}
	if err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt ask: %v\n", err)
		return ExitFailed
	}
	return ExitOK
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Batch runs `isolategpt batch --policy FILE < in.jsonl > out.jsonl`.
func Batch(args []string, stdio IO) int {
	fs := flag.NewFlagSet("batch", flag.ContinueOnError)
	fs.SetOutput(stdio.Err)
	var c common
	c.register(fs, stdio.Getenv)
	policyPath := fs.String("policy", "", "permission policy file (JSON); required")
	arch := archFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stdio.Err, "usage: isolategpt batch --policy FILE [flags] < queries.jsonl > results.jsonl")
		fmt.Fprintln(stdio.Err, `input lines: {"id": "1", "query": "…", "user": "optional"}`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if *policyPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return ExitUsage
	}
	if !checkArch(*arch, stdio, "batch") {
		return ExitUsage
	}
	e, closeAll, err := c.open(stdio)
	if err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt batch: %v\n", err)
		return ExitUsage
	}
	defer closeAll()
	pol, err := batch.LoadPolicy(*policyPath, e.Catalog())
	if err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt batch: %v\n", err)
		return ExitUsage
	}
	r := &batch.Runner{Engine: e, Policy: pol, DefaultUser: c.user}
	if *arch == archVanilla {
		if r.Open, err = vanillaOpener(&c, e, stdio); err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt batch: %v\n", err)
			return ExitUsage
		}
	}
	sum, err := r.Run(context.Background(), stdio.In, stdio.Out)
	fmt.Fprintf(stdio.Err, "batch: %d lines, %d ok, %d failed\n", sum.Lines, sum.OK, sum.Failed)
	if err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt batch: %v\n", err)
		return ExitFailed
	}
	if sum.Failed > 0 {
		return ExitFailed
	}
	return ExitOK
}

// Audit runs `isolategpt audit [--user U] [--json]`.
func Audit(args []string, stdio IO) int {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stdio.Err)
	var c common
	c.register(fs, stdio.Getenv)
	asJSON := fs.Bool("json", false, "one JSON record per line")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if _, err := os.Stat(filepath.Join(c.data, "store")); err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt audit: no store in %s: %v\n", c.data, err)
		return ExitUsage
	}
	st, err := store.Open(filepath.Join(c.data, "store"), store.Options{})
	if err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt audit: %v\n", err)
		return ExitUsage
	}
	defer st.Close()
	enc := json.NewEncoder(ut.JSONWriter(stdio.Out))
	n := 0
	err = st.AuditLog(c.user, func(r store.AuditRecord) error {
		n++
		if *asJSON {
			return enc.Encode(r)
		}
		_, err := fmt.Fprintln(stdio.Out, AuditLine(r))
		return err
	})
	if err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt audit: %v\n", err)
		return ExitFailed
	}
	if n == 0 {
		fmt.Fprintf(stdio.Err, "no audit records for user %q in %s\n", c.user, c.data)
	}
	return ExitOK
}

// AuditLine renders one audit record on one line.
func AuditLine(r store.AuditRecord) string {
	who := r.App
	if r.Function != "" {
		who += "." + r.Function
	}
	line := fmt.Sprintf("#%d %s %-10s %-9s", r.Seq, r.At.Format(time.RFC3339), r.Kind, r.Outcome)
	if who != "" {
		line += " " + ut.Escape(who)
	}
	if r.QueryID != "" {
		line += " query=" + r.QueryID
	}
	if len(r.Detail) > 0 {
		var v any
		if json.Unmarshal(r.Detail, &v) == nil {
			line += " " + execute.Preview(v)
		}
	}
	return line
}
