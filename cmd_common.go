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
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/batch"
	"github.com/isolategpt/isolategpt/engine/execute"
	"github.com/isolategpt/isolategpt/engine/store"
	ut "github.com/isolategpt/isolategpt/engine/untrusted"
)

var askCmd = &cmdSpec{
	name: "ask", args: "QUERY...", folder: true, signals: true,
	summary: "answer one query, asking permissions on the terminal",
	help: `The words after the flags are the query (quote it, or put it after --).
Without --yes each permission prompt is asked on the terminal: type the
letter of a choice (o allow once, s allow session, a always allow, d deny;
only the choices offered are shown) and Enter. Enter alone, end of input or
no answer in time denies.

The status of the query (--json: "status"; on stderr unless done) and the
exit code: done 0 (every step done), partial 3 (some steps done, others
not), denied 4 (nothing done, a flow refused), failed 1 (nothing done: a
step failed or timed out, the plan failed, or the offline model planned
nothing), interrupted 5; 6 when a full or damaged store kept it from being
done. Ctrl+C (SIGINT, SIGTERM) denies the prompt open
and every later one, lets the query finish, prints its answer and closes
the session; a second one gives the query up.`,
	new: func() options { return &askOpts{} },
}

type askOpts struct {
	c       common
	yes     bool
	asJSON  bool
	arch    string
	timeout time.Duration
}

func (o *askOpts) flags(fs *flag.FlagSet, stdio IO) {
	o.c.register(fs, stdio.Getenv)
	fs.BoolVar(&o.yes, "yes", false, "allow every permission prompt once, without asking")
	fs.BoolVar(&o.asJSON, "json", false, "print the result (status, answer, plan, steps, permissions, llm, duration_ms) as JSON, the same fields as a batch line")
	archFlag(fs, &o.arch)
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long; 0 means no limit")
}

// Ask runs `isolategpt ask [flags] QUERY`.
func Ask(args []string, stdio IO) int { return runCommand(stdio, "ask", args...) }

func (o *askOpts) run(args []string, stdio IO) int {
	c := &o.c
	query := strings.TrimSpace(strings.Join(args, " "))
	if query == "" {
		fmt.Fprintln(stdio.Err, "isolategpt ask: empty query")
		return ExitUsage
	}
	if !checkArch(o.arch, stdio, "ask") || !checkTimeout(o.timeout, stdio, "ask") {
		return ExitUsage
	}
	in, release := catchInterrupts(stdio, "ask")
	defer release()
	// Waiting for the data folder, or another process's run of this
	// command, ends at the first signal; the query itself at the second;
	// both at the one deadline.
	deadline := time.Now().Add(o.timeout)
	wait, cancelWait := withDeadline(in.soft, o.timeout, deadline)
	defer cancelWait()
	stdio.Ctx = wait
	// Run by the holder of the data folder: the first signal is relayed
	// (the prompt denied, the answer still printed), the second hangs up.
	relay, cancelRelay := withDeadline(in.hard, o.timeout, deadline)
	defer cancelRelay()
	stdio.relay = relay
	return c.withEngine(stdio, "ask", holdOptions{}, func(e *engine.Engine) int {
		ctx, cancel := withDeadline(in.hard, o.timeout, deadline)
		defer cancel()
		var p frontend.Prompter
		if o.yes {
			p = NewYes(stdio.Err)
		} else {
			t := NewTerminal(stdio.In, stdio.Err)
			t.DiscardTypeAhead = stdio.InTTY
			p = t
		}
		p = batch.Interruptible(p, in.stop)
		var s batch.Session
		if o.arch == archVanilla {
			open, err := vanillaOpener(c, e, stdio)
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
				if in.interrupted() {
					return ExitInterrupted
				}
				return ExitUsage
			}
			s = es
		}
		// Closed before the store, interrupted or not: the audit log
		// gets the session's "closed" record.
		defer s.Close()
		if in.interrupted() {
			fmt.Fprintf(stdio.Err, "isolategpt ask: interrupted before the query ran (exit %d)\n", ExitInterrupted)
			return ExitInterrupted
		}
		stdio.served.note(ServedQuery{PeerPID: peerPID(stdio), Query: query})
		ans, err := s.Ask(ctx, query)
		stdio.served.note(ServedQuery{PeerPID: peerPID(stdio), Query: query, Done: true, Answer: ans, Err: err})
		res := batch.Result(ans, err)
		if res.Status != msg.Done && in.interrupted() {
			res.Status = msg.Interrupted
		}
		if o.asJSON {
			enc := json.NewEncoder(ut.JSONWriter(stdio.Out))
			enc.SetIndent("", "  ")
			_ = enc.Encode(res)
		} else if ans != nil {
			fmt.Fprintln(stdio.Out, ans.Text)
		}
		if ans != nil {
			tellGrants(stdio, ans.Permissions)
		}
		if err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt ask: %v\n", err)
		}
		code := exitCode(res.Status)
		if code != ExitOK && res.Store != nil {
			// Not done because the store could not write (a full disk)
			// or is damaged: the store's code, whatever the status.
			code = ExitStore
			if err == nil {
				fmt.Fprintf(stdio.Err, "isolategpt ask: %v\n", res.Store)
			}
		}
		if res.Status != msg.Done {
			fmt.Fprintf(stdio.Err, "isolategpt ask: %s: %s (exit %d)\n", res.Status, res.Status.Meaning(), code)
		}
		return code
	})
}

// tellGrants says which flows a permanent grant allowed without asking,
// and how to take the grant back.
func tellGrants(stdio IO, ps []msg.PermissionEvent) {
	for _, p := range ps {
		if !p.Asked && p.Decision == msg.AllowAlways {
			fmt.Fprintf(stdio.Err, "allowed by your permanent grant %s (isolategpt grants revoke %s)\n", p.Prompt.Key(), shellQuote(p.Prompt.Key()))
		}
	}
}

// shellQuote quotes s for a shell command line, when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-/=@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func peerPID(stdio IO) int {
	if stdio.served == nil || stdio.served.session == nil {
		return 0
	}
	return stdio.served.session.PeerPID
}

// withDeadline bounds ctx by deadline, unless d, the timeout it was
// computed from, is 0 (no limit).
func withDeadline(ctx context.Context, d time.Duration, deadline time.Time) (context.Context, context.CancelFunc) {
	if d == 0 {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline)
}

// withTimeout bounds ctx by d; 0 means no limit.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d == 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func checkTimeout(d time.Duration, stdio IO, cmd string) bool {
	if d < 0 {
		fmt.Fprintf(stdio.Err, "isolategpt %s: --timeout %s: want a duration of 0 (no limit) or more\n", cmd, d)
		return false
	}
	return true
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

var batchCmd = &cmdSpec{
	name: "batch", folder: true, signals: true,
	summary: "answer JSON-lines queries from stdin, prompts answered by a policy file",
	help: `Reads {"id": "1", "query": "…", "user": "optional"} lines from stdin and
writes one JSON result per line to stdout: id, status, error, answer, plan,
steps, permissions, llm and duration_ms (the fields of ask --json). The
policy file answers every prompt; a rule naming an unknown app, kind or
decision is refused before anything runs. A line is refused (status
failed) if it is not one JSON object of these fields, has invalid UTF-8
or a lone surrogate escape, a key twice, anything after the object, or
an id an earlier line had.

Each line's status is done, partial, denied, failed or interrupted (see
isolategpt help ask); a summary goes to stderr, and the exit code is the
worst line's. SIGINT or SIGTERM finishes the line in flight with every
further prompt denied, writes the summary, closes the store and exits 5;
a second one abandons the line in flight.`,
	new: func() options { return &batchOpts{} },
}

type batchOpts struct {
	c      common
	policy string
	arch   string
}

func (o *batchOpts) flags(fs *flag.FlagSet, stdio IO) {
	o.c.register(fs, stdio.Getenv)
	fs.StringVar(&o.policy, "policy", "", "permission policy file (JSON); required")
	archFlag(fs, &o.arch)
}

// Batch runs `isolategpt batch --policy FILE < in.jsonl > out.jsonl`.
func Batch(args []string, stdio IO) int { return runCommand(stdio, "batch", args...) }

func (o *batchOpts) run(_ []string, stdio IO) int {
	c := &o.c
	if o.policy == "" {
		fmt.Fprintln(stdio.Err, "isolategpt batch: --policy FILE is required (see isolategpt help batch)")
		return ExitUsage
	}
	if !checkArch(o.arch, stdio, "batch") {
		return ExitUsage
	}
	// A policy that cannot be read or decoded is refused before the store
	// is opened, so a refused batch leaves the folder as it was; the apps
	// it names are checked against the catalog once the engine is up.
	pol, err := batch.ReadPolicy(stdio.path(o.policy))
	if err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt batch: %v\n", err)
		return ExitUsage
	}
	in, release := catchInterrupts(stdio, "batch")
	defer release()
	stdio.Ctx = in.soft
	stdio.relay = in.hard
	return c.withEngine(stdio, "batch", holdOptions{}, func(e *engine.Engine) int {
		if err := pol.Check(e.Catalog()); err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt batch: %v\n", err)
			return ExitUsage
		}
		r := &batch.Runner{Engine: e, Policy: pol, DefaultUser: c.user, Stop: in.stop}
		if o.arch == archVanilla {
			if r.Open, err = vanillaOpener(c, e, stdio); err != nil {
				fmt.Fprintf(stdio.Err, "isolategpt batch: %v\n", err)
				return ExitUsage
			}
		}
		if stdio.InTTY {
			fmt.Fprintln(stdio.Err, `isolategpt batch: reading queries from the terminal, one JSON line each ({"id": "1", "query": "…"}); Ctrl+D ends`)
		}
		sum, err := r.Run(in.hard, stdio.In, stdio.Out)
		fmt.Fprintf(stdio.Err, "batch: %s\n", sum)
		noteInterrupted(stdio, sum.Earlier)
		if len(sum.Granted) > 0 {
			fmt.Fprintf(stdio.Err, "batch: the policy's allow_always stored %d permanent grant(s), which later queries use without asking: %s (isolategpt grants list; grants revoke KEY)\n", len(sum.Granted), strings.Join(sum.Granted, ", "))
		}
		if err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt batch: %v\n", err)
		}
		code := exitCode(sum.Worst)
		if code != ExitOK && sum.StoreFaults > 0 {
			// Lines not done because the store could not write (a full
			// disk) or is damaged.
			code = ExitStore
		}
		if code != ExitOK {
			// Lines refused because the store cannot write (a full disk).
			code = storeExit(e.Store().Writable(), code)
		}
		return code
	})
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
	if r.Intent != 0 {
		line += fmt.Sprintf(" intent=#%d", r.Intent)
	}
	if len(r.Detail) > 0 {
		var v any
		if json.Unmarshal(r.Detail, &v) == nil {
			line += " " + execute.Preview(v)
		}
	}
	return line
}
