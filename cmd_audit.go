package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/store"
	ut "github.com/isolategpt/isolategpt/engine/untrusted"
)

var auditCmd = &cmdSpec{
	name: "audit", folder: true,
	summary: "print the audit log of a user, or follow it",
	help: `Every plan, step, ISC message, permission decision and egress connection
is a record. The filters combine: --since 1h --kind permission --app mail.
A write step is recorded as started before it runs; one the process never
finished is marked "interrupted" at the next start and named on stderr
here: whether it took effect is unknown, and it was not retried.`,
	new:  func() options { return &auditOpts{} },
	subs: auditSubs,
}

// auditKinds are the kinds of record the hub writes.
var auditKinds = []string{"answer", "crash", "egress", "isc", "permission", "pin", "plan", "query", "session", "spoke", "step"}

type auditOpts struct {
	c      common
	asJSON bool
	since  string
	query  string
	kinds  string
	app    string
	follow bool
}

func (o *auditOpts) flags(fs *flag.FlagSet, stdio IO) {
	o.c.registerData(fs, stdio.Getenv)
	fs.BoolVar(&o.asJSON, "json", false, "one JSON record per line")
	fs.StringVar(&o.since, "since", "", "only records from `WHEN` on: a duration back from now (1h, 30m) or a time (2026-12-01, 2026-12-01T09:30:00Z)")
	fs.StringVar(&o.query, "query", "", "only the records of this query `ID`")
	fs.StringVar(&o.kinds, "kind", "", "only these `KINDS`, comma-separated: "+strings.Join(auditKinds, ", "))
	fs.StringVar(&o.app, "app", "", "only records about this `APP`")
	fs.BoolVar(&o.follow, "follow", false, "keep printing records as they are written, until interrupted")
}

// Audit runs `isolategpt audit [flags]`.
func Audit(args []string, stdio IO) int { return runCommand(stdio, "audit", args...) }

// auditFilter is the records the flags ask for.
type auditFilter struct {
	since time.Time
	query string
	kinds []string
	app   string
}

func (f auditFilter) keep(r store.AuditRecord) bool {
	return (f.since.IsZero() || !r.At.Before(f.since)) &&
		(f.query == "" || r.QueryID == f.query) &&
		(len(f.kinds) == 0 || slices.Contains(f.kinds, r.Kind)) &&
		(f.app == "" || r.App == f.app)
}

func (o *auditOpts) filter(now time.Time) (auditFilter, error) {
	f := auditFilter{query: o.query, app: o.app}
	if o.since != "" {
		t, err := parseSince(o.since, now)
		if err != nil {
			return f, err
		}
		f.since = t
	}
	if o.kinds != "" {
		for _, k := range strings.Split(o.kinds, ",") {
			k = strings.TrimSpace(k)
			if !slices.Contains(auditKinds, k) {
				return f, fmt.Errorf("--kind %q: unknown kind (kinds: %s)", k, strings.Join(auditKinds, ", "))
			}
			f.kinds = append(f.kinds, k)
		}
	}
	return f, nil
}

// parseSince reads a duration back from now or a time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration back from now (1h, 30m) or a time (2026-12-01, 2026-12-01T09:30:00Z)", s)
}

func (o *auditOpts) run(_ []string, stdio IO) int {
	c := &o.c
	f, err := o.filter(time.Now())
	if err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt audit: %v\n", err)
		return ExitUsage
	}
	if err := store.ValidUser(c.user); err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt audit: --user: %v\n", err)
		return ExitUsage
	}
	// Reading a log creates no data folder.
	if _, err := os.Stat(filepath.Join(stdio.path(c.data), "store")); err != nil && stdio.served == nil {
		fmt.Fprintf(stdio.Err, "isolategpt audit: no store in %s: %v\n", c.data, err)
		return ExitUsage
	}
	// Reading the log writes nothing; following it lets the queries it
	// follows run through this process, so that opens the store for them.
	c.readOnly = !o.follow
	return c.withEngine(stdio, "audit", holdOptions{}, func(e *engine.Engine) int {
		enc := json.NewEncoder(ut.JSONWriter(stdio.Out))
		n := 0
		var next uint64
		var interrupted []store.AuditRecord
		print := func(r store.AuditRecord) error {
			next = r.Seq + 1
			if r.Outcome == store.OutcomeInterrupted {
				interrupted = append(interrupted, r)
			}
			if !f.keep(r) {
				return nil
			}
			n++
			if o.asJSON {
				return enc.Encode(r)
			}
			_, err := fmt.Fprintln(stdio.Out, AuditLine(r))
			return err
		}
		if err := e.Store().AuditLog(c.user, print); err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt audit: %v\n", err)
			return ExitFailed
		}
		noteInterrupted(stdio, interrupted)
		if !o.follow {
			if n == 0 {
				fmt.Fprintf(stdio.Err, "no audit records for user %q in %s that match\n", c.user, c.data)
			}
			return ExitOK
		}
		ctx := stdio.ctx()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return ExitOK
			case <-tick.C:
			}
			if err := e.Store().AuditFrom(c.user, next, print); err != nil && !errors.Is(err, store.ErrClosed) {
				fmt.Fprintf(stdio.Err, "isolategpt audit: %v\n", err)
				return ExitFailed
			}
		}
	})
}

// noteInterrupted names, on stderr, the write steps whose outcome is
// unknown, whatever the filters: the user must check them by hand.
func noteInterrupted(stdio IO, recs []store.AuditRecord) {
	if len(recs) == 0 {
		return
	}
	fmt.Fprintf(stdio.Err, "%d write step(s) interrupted, outcome unknown (the process stopped while they ran; not retried): check whether they took effect\n", len(recs))
	for _, r := range recs {
		fmt.Fprintf(stdio.Err, "  %s\n", InterruptionLine(r))
	}
}

// InterruptionLine is one interrupted write step, for the audit command,
// the TUI and the batch summary.
func InterruptionLine(r store.AuditRecord) string {
	who := r.App
	if r.Function != "" {
		who += "." + r.Function
	}
	line := fmt.Sprintf("#%d %s started as #%d", r.Seq, ut.Escape(who), r.Intent)
	if r.QueryID != "" {
		line += " query=" + ut.Escape(r.QueryID)
	}
	return line
}
