package msg

import (
	"errors"
	"testing"
)

func TestJudge(t *testing.T) {
	step := func(kind, status string) StepOutcome { return StepOutcome{Kind: kind, Status: status} }
	app := func(status string) StepOutcome { return step("app", status) }
	tests := []struct {
		name    string
		steps   []StepOutcome
		offline bool
		want    Outcome
	}{
		{"every step done", []StepOutcome{app(StatusOK), app(StatusOK), step("op", StatusOK)}, false, Done},
		{"one of two denied", []StepOutcome{app(StatusOK), app(StatusDenied)}, false, Partial},
		{"one of two failed", []StepOutcome{app(StatusFailed), app(StatusOK)}, false, Partial},
		{"all denied", []StepOutcome{app(StatusDenied), app(StatusDenied)}, false, Denied},
		{"denied, the rest skipped", []StepOutcome{app(StatusDenied), app(StatusSkipped), step("op", StatusSkipped)}, false, Denied},
		{"all failed", []StepOutcome{app(StatusFailed)}, false, Failed},
		{"failed and denied", []StepOutcome{app(StatusDenied), app(StatusFailed)}, false, Failed},
		{"a status this version does not know", []StepOutcome{app("interrupted")}, false, Failed},
		{"only the hub's operator done", []StepOutcome{app(StatusDenied), step("op", StatusOK)}, false, Denied},
		{"denied, so the hub's choice failed", []StepOutcome{app(StatusDenied), app(StatusDenied), step("op", StatusFailed), app(StatusSkipped)}, false, Denied},
		{"done, but the hub's choice failed", []StepOutcome{app(StatusOK), step("op", StatusFailed)}, false, Partial},
		{"only the hub's operator, failed", []StepOutcome{step("op", StatusFailed)}, false, Failed},
		{"offline model planned nothing", nil, true, Failed},
		{"an LLM answered in words", nil, false, Done},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Judge(tt.steps, tt.offline); got != tt.want {
				t.Errorf("Judge = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestOutcomeOf(t *testing.T) {
	done := &Answer{Steps: []StepOutcome{{Kind: "app", Status: StatusOK}}}
	if got := OutcomeOf(done, nil); got != Done {
		t.Errorf("done answer: %s", got)
	}
	if got := OutcomeOf(done, errors.New("boom")); got != Failed {
		t.Errorf("an error with the answer: %s, want failed", got)
	}
	if got := OutcomeOf(nil, nil); got != Failed {
		t.Errorf("no answer: %s, want failed", got)
	}
	if got := OutcomeOf(&Answer{Status: Partial}, nil); got != Partial {
		t.Errorf("the answer's own status: %s, want partial", got)
	}
}

func TestWorse(t *testing.T) {
	worst := Done
	for _, o := range []Outcome{Partial, Done, Denied, Partial, Failed, Denied} {
		worst = Worse(worst, o)
	}
	if worst != Failed {
		t.Errorf("worst = %s, want failed", worst)
	}
	if Worse(Interrupted, Failed) != Interrupted || Worse(Done, "new") != "new" {
		t.Error("interrupted is the worst known; an unknown outcome is worse still")
	}
}
