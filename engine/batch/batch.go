// Package batch is the headless front end: it reads queries as JSON lines,
// answers permission prompts from a policy file, and writes one JSON result
// per line. A bad line gets an error on its own output line; the others
// still run.
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
	"github.com/isolategpt/isolategpt/engine"
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
	Line        int                   `json:"line,omitempty"`
	ID          string                `json:"id,omitempty"`
	QueryID     string                `json:"query_id,omitempty"`
	User        string                `json:"user,omitempty"`
	Status      string                `json:"status"`
	Error       string                `json:"error,omitempty"`
	Answer      string                `json:"answer,omitempty"`
	Model       string                `json:"model,omitempty"`
	Plan        json.RawMessage       `json:"plan,omitempty"`
	Steps       []msg.StepOutcome     `json:"steps,omitempty"`
	Permissions []msg.PermissionEvent `json:"permissions,omitempty"`
	LLM         *msg.Usage            `json:"llm,omitempty"`
	DurationMS  float64               `json:"duration_ms"`
}

// Runner runs batches on an engine.
type Runner struct {
	Engine *engine.Engine
	// Open, when set, opens sessions instead of Engine (the non-isolated
	// baseline, `--arch vanilla`).
	Open        func(ctx context.Context, user string, p frontend.Prompter) (Session, error)
	Policy      *Policy
	DefaultUser string
}

// Session is what a batch asks its queries in.
type Session interface {
	Ask(ctx context.Context, query string) (*msg.Answer, error)
	Close() error
}

func (r *Runner) open(ctx context.Context, user string) (Session, error) {
	if r.Open != nil {
		return r.Open(ctx, user, r.Policy)
	}
	return r.Engine.OpenSession(ctx, user, r.Policy)
}

// Summary counts a batch's lines.
type Summary struct {
	Lines, OK, Failed int
	// Granted are the permanent grants the policy's allow_always stored:
	// later queries, in batch or not, use them without asking.
	Granted []string
}

// Run reads every line of in and writes a result line for each to out.
// Lines run one after another, each user in one session for the batch.
func (r *Runner) Run(ctx context.Context, in io.Reader, out io.Writer) (Summary, error) {
	var sum Summary
	sessions := map[string]Session{}
	defer func() {
		for _, s := range sessions {
			_ = s.Close()
		}
	}()
	enc := json.NewEncoder(untrusted.JSONWriter(out))
	br := bufio.NewReaderSize(in, 64<<10)
	for n := 1; ; n++ {
		line, tooLong, err := readLine(br)
		if errors.Is(err, io.EOF) && len(line) == 0 && !tooLong {
			return sum, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return sum, fmt.Errorf("read line %d: %w", n, err)
		}
		if !tooLong && len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		sum.Lines++
		o := r.one(ctx, n, line, tooLong, sessions)
		for _, p := range o.Permissions {
			if p.Asked && p.Decision == msg.AllowAlways && !slices.Contains(sum.Granted, p.Prompt.Key()) {
				sum.Granted = append(sum.Granted, p.Prompt.Key())
			}
		}
		if o.Status == "ok" {
			sum.OK++
		} else {
			sum.Failed++
		}
		if werr := enc.Encode(o); werr != nil {
			return sum, fmt.Errorf("write result of line %d: %w", n, werr)
		}
	}
}

func (r *Runner) one(ctx context.Context, n int, line []byte, tooLong bool, sessions map[string]Session) Output {
	o := Output{Line: n, Status: "error"}
	if tooLong {
		o.Error = fmt.Sprintf("line longer than %d bytes", MaxLineBytes)
		return o
	}
	var in Input
	if err := strictjson.Line(line, &in, MaxLineBytes); err != nil {
		o.Error = "malformed line: " + err.Error()
		return o
	}
	o.ID = in.ID
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
		var err error
		if s, err = r.open(ctx, user); err != nil {
			o.Error = err.Error()
			return o
		}
		sessions[user] = s
	}
	ans, err := s.Ask(ctx, in.Query)
	res := Result(ans, err)
	res.Line, res.ID, res.User = o.Line, o.ID, o.User
	return res
}

// Result is the output for one query's answer and error.
func Result(ans *msg.Answer, err error) Output {
	o := Output{Status: "error"}
	if ans != nil {
		o.QueryID, o.Answer, o.Model, o.Plan, o.Steps, o.Permissions = ans.QueryID, ans.Text, ans.Model, ans.Plan, ans.Steps, ans.Permissions
		u := ans.Usage
		o.LLM = &u
		o.DurationMS = float64(ans.Duration.Microseconds()) / 1000
	}
	if err != nil {
		o.Error = err.Error()
		return o
	}
	o.Status = "ok"
	return o
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
