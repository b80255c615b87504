package scenario

import "regexp"

// Predicate is a check over what happened in a run. Exactly one field is set.
type Predicate struct {
	All []*Predicate `json:"all,omitempty"`
	Any []*Predicate `json:"any,omitempty"`
	Not *Predicate   `json:"not,omitempty"`
	// AnswerContains holds when some answer contains the text.
	AnswerContains string `json:"answer_contains,omitempty"`
	// AnswerMatches holds when some answer matches the regular expression.
	AnswerMatches string `json:"answer_matches,omitempty"`
	// AnsweredWithinMs holds when every query was answered within this
	// many milliseconds of being asked.
	AnsweredWithinMs int `json:"answered_within_ms,omitempty"`
	// Call holds when an app was called as described (at the launcher:
	// what really reached the app).
	Call *CallMatch `json:"call,omitempty"`
	// Prompt holds when the user was shown a matching permission prompt.
	Prompt *PromptMatch `json:"prompt,omitempty"`
	// Count holds when the number of matching calls or prompts is within
	// its bounds.
	Count *Count `json:"count,omitempty"`
	// Before holds when some call matching First ended before some call
	// matching Then started.
	Before *Order `json:"before,omitempty"`
	re     *regexp.Regexp
}

// CallMatch describes calls that reached an app.
type CallMatch struct {
	// App is the app called; "*" is any app.
	App      string `json:"app"`
	Function string `json:"function,omitempty"`
	// ArgsContain: the arguments' JSON contains this text (data reaching an app).
	ArgsContain string `json:"args_contain,omitempty"`
	// ResultContains: the app's result contains this text.
	ResultContains string `json:"result_contains,omitempty"`
	// OK: the call succeeded (for write functions: a booking was made);
	// Failed: it did not.
	OK     bool `json:"ok,omitempty"`
	Failed bool `json:"failed,omitempty"`
	// Session, when not 0, limits the match to that session (1-based).
	Session int `json:"session,omitempty"`
	// MinMs and MaxMs, when not 0, bound how long the call took.
	MinMs int `json:"min_ms,omitempty"`
	MaxMs int `json:"max_ms,omitempty"`
}

// PromptMatch describes permission prompts the user was shown; empty
// fields match anything.
type PromptMatch struct {
	Kind      string `json:"kind,omitempty"`
	App       string `json:"app,omitempty"`
	Function  string `json:"function,omitempty"`
	Requester string `json:"requester,omitempty"`
	Warned    *bool  `json:"warned,omitempty"`
	InPlan    *bool  `json:"in_plan,omitempty"`
	// WarningContains: the hub's warning contains this text (for example
	// the app it names).
	WarningContains string `json:"warning_contains,omitempty"`
	// HubTextContains: a field the hub writes (kind, app, function,
	// requester, origin, task, warning) contains the text — an app's words
	// passed off as the hub's.
	HubTextContains string `json:"hub_text_contains,omitempty"`
	// DataOrigin: some value shown has exactly this origin label;
	// DataContains: some value shown contains this text.
	DataOrigin   string `json:"data_origin,omitempty"`
	DataContains string `json:"data_contains,omitempty"`
	// Offered: the prompt offered this choice (allow_always, …); Answer:
	// the user answered it so.
	Offered string `json:"offered,omitempty"`
	Answer  string `json:"answer,omitempty"`
	// Session, when not 0, limits the match to that session (1-based).
	Session int `json:"session,omitempty"`
}

// Count bounds how many calls (or prompts) match; exactly one of Call and
// Prompt is set, and at least one bound.
type Count struct {
	Call   *CallMatch   `json:"call,omitempty"`
	Prompt *PromptMatch `json:"prompt,omitempty"`
	Min    *int         `json:"min,omitempty"`
	Max    *int         `json:"max,omitempty"`
}

// Order is two calls in time.
type Order struct {
	First *CallMatch `json:"first"`
	Then  *CallMatch `json:"then"`
}

func (p *Predicate) compile() error {
	n := 0
	for _, set := range []bool{p.All != nil, p.Any != nil, p.Not != nil, p.AnswerContains != "", p.AnswerMatches != "",
		p.AnsweredWithinMs != 0, p.Call != nil, p.Prompt != nil, p.Count != nil, p.Before != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return invalid("a predicate sets exactly one of all, any, not, answer_contains, answer_matches, answered_within_ms, call, prompt, count, before")
	}
	for _, c := range append(append([]*Predicate{}, p.All...), p.Any...) {
		if c == nil {
			return invalid("null predicate")
		}
		if err := c.compile(); err != nil {
			return err
		}
	}
	if p.Not != nil {
		if err := p.Not.compile(); err != nil {
			return err
		}
	}
	if p.AnswerMatches != "" {
		re, err := regexp.Compile(p.AnswerMatches)
		if err != nil {
			return invalid("answer_matches: %v", err)
		}
		p.re = re
	}
	if p.AnsweredWithinMs < 0 {
		return invalid("answered_within_ms is negative")
	}
	if err := p.Call.check(); err != nil {
		return err
	}
	if c := p.Count; c != nil {
		if (c.Call == nil) == (c.Prompt == nil) || (c.Min == nil && c.Max == nil) {
			return invalid("count needs exactly one of call and prompt, and min or max")
		}
		if err := c.Call.check(); err != nil {
			return err
		}
	}
	if o := p.Before; o != nil {
		if o.First == nil || o.Then == nil {
			return invalid("before needs first and then")
		}
		if err := o.First.check(); err != nil {
			return err
		}
		if err := o.Then.check(); err != nil {
			return err
		}
	}
	return nil
}

func (m *CallMatch) check() error {
	if m == nil {
		return nil
	}
	if m.App == "" {
		return invalid("call needs an app")
	}
	if m.OK && m.Failed {
		return invalid("call: ok and failed together")
	}
	if m.MinMs < 0 || m.MaxMs < 0 {
		return invalid("call: negative min_ms or max_ms")
	}
	return nil
}

// Compile checks a predicate that is not part of a scenario (the
// functionality suite's expectations) and prepares it for Holds.
func (p *Predicate) Compile() error { return p.compile() }
