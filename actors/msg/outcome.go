package msg

// Outcome is how much of the work a query, or a batch line, asked for was
// done. It is what `ask` and `batch` exit with, so a script can tell.
type Outcome string

// Outcomes, from best to worst (Worse orders them).
const (
	// Done: every step of the plan was done.
	Done Outcome = "done"
	// Partial: some of an app's steps were done, others were not.
	Partial Outcome = "partial"
	// Denied: nothing was done because a flow was refused (by the
	// user, a policy or a bound), and nothing failed.
	Denied Outcome = "denied"
	// Failed: nothing was done because something failed — a step, its
	// timeout or its app, the plan, the input — or nothing was planned.
	Failed Outcome = "failed"
	// Interrupted: a signal (or Ctrl+C) stopped the work before it was
	// done.
	Interrupted Outcome = "interrupted"
)

// Outcomes is every outcome, best first.
var Outcomes = []Outcome{Done, Partial, Denied, Failed, Interrupted}

// Meaning says in words what the outcome means, for a person.
func (o Outcome) Meaning() string {
	switch o {
	case Done:
		return "the work asked for was done"
	case Partial:
		return "some of the steps were done, others were not"
	case Denied:
		return "nothing was done: a flow was refused"
	case Failed:
		return "nothing was done: it failed, or nothing was planned"
	case Interrupted:
		return "stopped by a signal before the work was done"
	}
	return "an outcome this version does not know"
}

func (o Outcome) rank() int {
	for i, x := range Outcomes {
		if x == o {
			return i
		}
	}
	// An outcome this version does not know is no better than a failure.
	return len(Outcomes)
}

// Worse is the worse of a and b: a batch is as bad as its worst line.
func Worse(a, b Outcome) Outcome {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Judge is the outcome of a query from its steps. Every step ok is done.
// Some step of an app ok and others not is partial. With no app's step
// done, any step that failed (an error, a timeout, a crash, or a status
// this version does not know) makes it failed; otherwise a denied step
// makes it denied. A plan of no steps did nothing when the offline model
// made it (it plans none for a query it could not read, and says so): that
// is failed; an LLM's plan of no steps is an answer in words, done. A hub
// operator's step alone is never work done: it only computes on what the
// apps returned, and its failure alone is not a failure of the work when
// no app's step was done: it failed for want of their results.
func Judge(steps []StepOutcome, offline bool) Outcome {
	if len(steps) == 0 {
		if offline {
			return Failed
		}
		return Done
	}
	all, appDone, failed, denied := true, false, false, false
	for _, s := range steps {
		if s.Kind == "op" && s.Status != StatusOK {
			// The hub's operator on what the apps returned: it fails
			// when they did not return (its own failure, with the
			// apps' steps done, still leaves the work partial).
			all = false
			continue
		}
		switch s.Status {
		case StatusOK:
			if s.Kind != "op" {
				appDone = true
			}
			continue
		case StatusDenied:
			denied = true
		case StatusSkipped:
			// Skipped for a step that failed or was denied: that
			// step says which.
		default:
			failed = true
		}
		all = false
	}
	switch {
	case all:
		return Done
	case appDone:
		return Partial
	case failed:
		return Failed
	case denied:
		return Denied
	}
	return Failed
}

// OutcomeOf is the outcome of one asked query: failed when it returned an
// error or no answer — interrupted when the answer says so (a write step
// ran whose outcome the audit log could not take) — else the answer's
// status (judged from its steps when the answer does not carry one).
func OutcomeOf(a *Answer, err error) Outcome {
	switch {
	case a == nil:
		return Failed
	case err != nil && a.Status == Interrupted:
		return Interrupted
	case err != nil:
		return Failed
	case a.Status != "":
		return a.Status
	}
	return Judge(a.Steps, a.Offline)
}
