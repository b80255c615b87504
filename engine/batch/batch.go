// Package batch is the headless front end: it reads queries as JSON lines,
// answers permission prompts from a policy file, and writes one JSON result
// per line with its status (done, partial, denied, failed, interrupted).
// A bad line gets an error on its own output line; the others still run.
package batch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/actors/query"
	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/engine/untrusted"
	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// MaxLineBytes caps one input line.
const MaxLineBytes = 1 << 20

// Input is one line of input.
type Input struct {
	ID    string `json:"id"`
	Query string `json:"query"`
	User  string `json:"user,omitempty"`
}

// Output is one line of output, and what `isolategpt ask --json` prints:
// the same field names and units for one query however it was asked.
type Output struct {
	// Line is the input line it answers (batch only).
	Line    int    `json:"line,omitempty"`
	ID      string `json:"id,omitempty"`
	QueryID string `json:"query_id,omitempty"`
	User    string `json:"user,omitempty"`
	// Status is done, partial, denied, failed or interrupted (msg.Outcome);
	// a line that could not be read or run is failed, with Error saying why.
	Status      msg.Outcome           `json:"status"`
	Error       string                `json:"error,omitempty"`
	Answer      string                `json:"answer,omitempty"`
	Model       string                `json:"model,omitempty"`
	Plan        json.RawMessage       `json:"plan,omitempty"`
	Steps       []msg.StepOutcome     `json:"steps,omitempty"`
	Permissions []msg.PermissionEvent `json:"permissions,omitempty"`
	LLM         *msg.Usage            `json:"llm,omitempty"`
	DurationMS  float64               `json:"duration_ms"`
	// Store is the store error (a full disk, a damaged store) that kept
	// the line from being done, nil when none; Error names it.
	Store error `json:"-"`
}

// Runner runs batches on an engine.
type Runner struct {
	Engine *engine.Engine
	// Open, when set, opens sessions instead of Engine (the non-isolated
	// baseline, `--arch vanilla`).
	Open        func(ctx context.Context, user string, p frontend.Prompter) (Session, error)
	Policy      *Policy
	DefaultUser string
	// Stop, when closed, interrupts the batch: the line in flight
	// finishes with every prompt from then on denied, and no further line
	// is read. Ending Run's context aborts the line in flight too.
	Stop <-chan struct{}
}

// Session is what a batch asks its queries in.
type Session interface {
	Ask(ctx context.Context, query string) (*msg.Answer, error)
	Close() error
}

func (r *Runner) open(ctx context.Context, user string) (Session, error) {
	var p frontend.Prompter = r.Policy
	if r.Stop != nil {
		p = Interruptible(r.Policy, r.Stop)
	}
	if r.Open != nil {
		return r.Open(ctx, user, p)
	}
	return r.Engine.OpenSession(ctx, user, p)
}

func (r *Runner) stopped(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	select {
	case <-r.Stop:
		return true
	default:
		return false
	}
}

// Summary counts a batch's lines by status.
type Summary struct {
	Lines int
	Count map[msg.Outcome]int
	// Worst is the worst line's status (done for no lines); an
	// interrupted batch is interrupted.
	Worst msg.Outcome
	// Interrupted: the batch stopped before the end of its input.
	Interrupted bool
	// StoreFaults counts the lines a store error (a full disk, a damaged
	// store) kept from being done: the exit code is the store's then.
	StoreFaults int
	// Earlier are the write steps of earlier runs found started without
	// an outcome when the store was opened ("interrupted, outcome
	// unknown"): nothing retries them; the user must check them.
	Earlier []store.AuditRecord
	// Granted are the permanent grants the policy's allow_always stored:
	// later queries, in batch or not, use them without asking.
	Granted []string
}

// String is the summary's line: "5 lines: 2 done, 1 partial, …".
func (s Summary) String() string {
	parts := make([]string, 0, len(msg.Outcomes))
	for _, o := range msg.Outcomes {
		parts = append(parts, fmt.Sprintf("%d %s", s.Count[o], o))
	}
	line := fmt.Sprintf("%d lines: %s", s.Lines, strings.Join(parts, ", "))
	if s.StoreFaults > 0 {
		line += fmt.Sprintf("; %d stopped by the store (disk full or damaged: see the lines' errors)", s.StoreFaults)
	}
	if s.Interrupted {
		line += "; interrupted, the rest of the input was not read"
	}
	if len(s.Earlier) > 0 {
		line += fmt.Sprintf("; %d write step(s) of an earlier run found interrupted, outcome unknown, not retried (isolategpt audit)", len(s.Earlier))
	}
	return line
}

// line is one line read, or the error that ended reading.
type line struct {
	text    []byte
	tooLong bool
	err     error
}

// Run reads every line of in and writes a result line for each to out.
// Lines run one after another, each user in one session for the batch.
// When Stop is closed or ctx ends, Run stops after the line in flight and
// says so in the summary; the error is for input it could not read and
// output it could not write.
func (r *Runner) Run(ctx context.Context, in io.Reader, out io.Writer) (Summary, error) {
	sum := Summary{Count: map[msg.Outcome]int{}, Worst: msg.Done}
	if r.Engine != nil {
		sum.Earlier = r.Engine.Interruptions()
	}
	sessions := map[string]Session{}
	defer func() {
		for _, s := range sessions {
			_ = s.Close()
		}
	}()
	enc := json.NewEncoder(untrusted.JSONWriter(out))
	// Reading waits on stdin, which a signal must not wait for: lines
	// come from a goroutine, one at a time.
	lines, done := make(chan line), make(chan struct{})
	defer close(done)
	go func() {
		br := bufio.NewReaderSize(in, 64<<10)
		for {
			text, tooLong, err := readLine(br)
			select {
			case lines <- line{text, tooLong, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	ids := map[string]int{}
	for n := 1; ; n++ {
		// Checked first: select would pick a ready line as often as
		// the stop.
		if r.stopped(ctx) {
			// Interrupted, unless the input had already ended.
			select {
			case l := <-lines:
				if errors.Is(l.err, io.EOF) && len(l.text) == 0 && !l.tooLong {
					return sum, nil
				}
			default:
			}
			sum.interrupted()
			return sum, nil
		}
		var l line
		select {
		case l = <-lines:
		case <-r.Stop:
			sum.interrupted()
			return sum, nil
		case <-ctx.Done():
			sum.interrupted()
			return sum, nil
		}
		if errors.Is(l.err, io.EOF) && len(l.text) == 0 && !l.tooLong {
			return sum, nil
		}
		if l.err != nil && !errors.Is(l.err, io.EOF) {
			sum.Worst = msg.Worse(sum.Worst, msg.Failed)
			return sum, fmt.Errorf("read line %d: %w", n, l.err)
		}
		if !l.tooLong && len(bytes.TrimSpace(l.text)) == 0 {
			continue
		}
		sum.Lines++
		o := r.one(ctx, n, l.text, l.tooLong, ids, sessions)
		for _, p := range o.Permissions {
			if p.Asked && p.Decision == msg.AllowAlways && !slices.Contains(sum.Granted, p.Prompt.Key()) {
				sum.Granted = append(sum.Granted, p.Prompt.Key())
			}
		}
		sum.Count[o.Status]++
		if o.Store != nil && o.Status != msg.Done {
			sum.StoreFaults++
		}
		sum.Worst = msg.Worse(sum.Worst, o.Status)
		if werr := enc.Encode(o); werr != nil {
			sum.Worst = msg.Worse(sum.Worst, msg.Failed)
			return sum, fmt.Errorf("write result of line %d: %w", n, werr)
		}
	}
}

func (s *Summary) interrupted() {
	s.Interrupted = true
	s.Worst = msg.Worse(s.Worst, msg.Interrupted)
}

// ReadInput decodes one input line strictly: one JSON object with the
// fields of Input and nothing else, valid UTF-8 with no escape that
// decodes to U+FFFD in its place (a lone surrogate), no key twice, nothing
// after it.
func ReadInput(text []byte) (Input, error) {
	var in Input
	if err := strictjson.Line(text, &in, MaxLineBytes); err != nil {
		return Input{}, err
	}
	if err := strictjson.ValidEscapes(text); err != nil {
		return Input{}, err
	}
	return in, nil
}

func (r *Runner) one(ctx context.Context, n int, text []byte, tooLong bool, ids map[string]int, sessions map[string]Session) Output {
	o := Output{Line: n, Status: msg.Failed}
	if tooLong {
		o.Error = fmt.Sprintf("line longer than %d bytes", MaxLineBytes)
		return o
	}
	in, err := ReadInput(text)
	if err != nil {
		o.Error = "malformed line: " + err.Error()
		return o
	}
	o.ID = in.ID
	// An id names one result: a second line with it would make two
	// results a script cannot tell apart.
	if first, ok := ids[in.ID]; ok && in.ID != "" {
		o.Error = fmt.Sprintf("id %s repeats the id of line %d", untrusted.Quote(in.ID, 80), first)
		return o
	}
	if in.ID != "" {
		ids[in.ID] = n
	}
	if strings.TrimSpace(in.Query) == "" {
		o.Error = "empty query"
		return o
	}
	user := in.User
	if user == "" {
		user = r.DefaultUser
	}
	o.User = user
	s, ok := sessions[user]
	if !ok {
		if s, err = r.open(ctx, user); err != nil {
			o.Error = err.Error()
			o.Store = StoreFault(nil, err)
			if r.stopped(ctx) {
				o.Status = msg.Interrupted
			}
			return o
		}
		sessions[user] = s
	}
	ans, err := s.Ask(ctx, in.Query)
	res := Result(ans, err)
	if res.Status != msg.Done && r.stopped(ctx) {
		res.Status = msg.Interrupted
	}
	res.Line, res.ID, res.User = o.Line, o.ID, o.User
	return res
}

// Result is the output for one query's answer and error: its status is
// msg.OutcomeOf them.
func Result(ans *msg.Answer, err error) Output {
	o := Output{Status: msg.OutcomeOf(ans, err)}
	if ans != nil {
		o.QueryID, o.Answer, o.Model, o.Plan, o.Steps, o.Permissions = ans.QueryID, ans.Text, ans.Model, ans.Plan, ans.Steps, ans.Permissions
		u := ans.Usage
		o.LLM = &u
		o.DurationMS = msg.Millis(ans.Duration)
	}
	if err != nil {
		o.Error = err.Error()
	}
	o.Store = StoreFault(ans, err)
	return o
}

// StoreFault is the store error (a full disk, a damaged store) behind a
// query's error or met while it ran, nil when none.
func StoreFault(ans *msg.Answer, err error) error {
	if query.IsStoreError(err) {
		return err
	}
	if ans != nil && ans.Store != nil {
		return ans.Store
	}
	return nil
}

// readLine reads one line of at most MaxLineBytes; a longer line is
// consumed and reported as too long.
func readLine(br *bufio.Reader) ([]byte, bool, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, isPrefix, err := br.ReadLine()
		if !tooLong {
			buf = append(buf, chunk...)
			if len(buf) > MaxLineBytes {
				tooLong, buf = true, nil
			}
		}
		if err != nil {
			return buf, tooLong, err
		}
		if !isPrefix {
			return buf, tooLong, nil
		}
	}
}
