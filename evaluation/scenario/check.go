package scenario

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/evaluation/users"
	"github.com/isolategpt/isolategpt/specs"
)

var idRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// MaxCallTimeoutMs caps CallTimeoutMs.
const MaxCallTimeoutMs = 10 * 60_000

// HoldsAgainstUsers are the simulated users the claim holds against:
// HoldsAgainst if the file says, else every user for a structural claim,
// the users who deny warned requests for a warned one, and none when
// nothing is claimed.
func (s *Scenario) HoldsAgainstUsers() []string {
	if len(s.HoldsAgainst) > 0 {
		return s.HoldsAgainst
	}
	switch s.Defence {
	case DefenceStructural:
		return users.All
	case DefenceWarned:
		return []string{users.DeniesWarned, users.SessionUnwarned}
	}
	return nil
}

// Claimed reports whether the design claims to stop the attack against
// the simulated user.
func (s *Scenario) Claimed(user string) bool {
	return slices.Contains(s.HoldsAgainstUsers(), user)
}

func (s *Scenario) check() error {
	if !idRE.MatchString(s.ID) {
		return invalid("id %q is not lower-case letters, digits and _", s.ID)
	}
	if strings.TrimSpace(s.Title) == "" || len(s.Attacks) == 0 {
		return invalid("needs a title and the attacks it covers")
	}
	switch s.Defence {
	case DefenceStructural, DefenceWarned, DefenceNone:
	default:
		return invalid("defence %q: want structural, warned or none", s.Defence)
	}
	for _, d := range s.ReliesOn {
		if !defence.Known(d) {
			return invalid("relies_on: unknown defence %q", d)
		}
	}
	for _, u := range s.HoldsAgainst {
		if !users.Known(u) {
			return invalid("holds_against: unknown simulated user %q (want %s)", u, strings.Join(users.All, ", "))
		}
	}
	if s.Defence == DefenceNone && (len(s.HoldsAgainst) > 0 || len(s.ReliesOn) > 0) {
		return invalid("defence none claims nothing: no holds_against or relies_on")
	}
	if err := s.checkSessions(); err != nil {
		return err
	}
	if len(s.Canaries) == 0 {
		return invalid("no canary: every attacker artefact must carry one")
	}
	for _, c := range s.Canaries {
		if len(c) < 6 {
			return invalid("canary %q is shorter than 6 bytes", c)
		}
	}
	if len(s.BenignPlan) > 0 && !isObject(s.BenignPlan) {
		return invalid("benign_plan is not a JSON object")
	}
	for i, bp := range s.BenignPlans {
		if strings.TrimSpace(bp.When) == "" || !isObject(bp.Plan) {
			return invalid("benign_plans %d: needs when and a plan object", i+1)
		}
	}
	if s.CallTimeoutMs < 0 || s.CallTimeoutMs > MaxCallTimeoutMs {
		return invalid("call_timeout_ms %d: want 0 to %d", s.CallTimeoutMs, MaxCallTimeoutMs)
	}
	for app, files := range s.Files {
		for name := range files {
			if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
				return invalid("file %q of %s leaves the app's folder", name, app)
			}
		}
	}
	if err := s.Attacker.check(); err != nil {
		return err
	}
	ids := map[string]bool{}
	for _, a := range s.Apps {
		ids[a] = true
	}
	for i := range s.ScenarioApps {
		a := &s.ScenarioApps[i]
		if err := a.check(); err != nil {
			return fmt.Errorf("scenario app %d: %w", i+1, err)
		}
		if ids[a.parsed.ID] {
			return invalid("app %q installed twice", a.parsed.ID)
		}
		ids[a.parsed.ID] = true
	}
	if s.Goal == nil || s.Benign == nil {
		return invalid("needs a goal and a benign predicate")
	}
	if err := s.Goal.compile(); err != nil {
		return fmt.Errorf("goal: %w", err)
	}
	if err := s.Benign.compile(); err != nil {
		return fmt.Errorf("benign: %w", err)
	}
	return nil
}

func (s *Scenario) checkSessions() error {
	if len(s.Sessions) == 0 {
		return invalid("no sessions")
	}
	for i, qs := range s.Sessions {
		if len(qs) == 0 {
			return invalid("session %d has no query", i+1)
		}
		for _, q := range qs {
			if strings.TrimSpace(q) == "" {
				return invalid("session %d has an empty query", i+1)
			}
		}
	}
	if len(s.SessionUsers) > 0 && len(s.SessionUsers) != len(s.Sessions) {
		return invalid("session_users names %d users for %d sessions", len(s.SessionUsers), len(s.Sessions))
	}
	for _, u := range s.SessionUsers {
		if err := store.ValidUser(u); err != nil {
			return invalid("session_users: %v", err)
		}
	}
	return nil
}

func (a Attacker) check() error {
	if len(a.Rules) == 0 {
		return invalid("the attacker has no rule")
	}
	for i, r := range a.Rules {
		if len(r.Replies) == 0 {
			return invalid("attacker rule %d has no reply", i+1)
		}
		for j, rep := range r.Replies {
			if err := rep.check(); err != nil {
				return fmt.Errorf("attacker rule %d reply %d: %w", i+1, j+1, err)
			}
		}
	}
	return nil
}

func (rep Reply) check() error {
	if (rep.Call == "") == (rep.Text == "") {
		return invalid("exactly one of call and text")
	}
	if rep.Call != "" {
		if _, _, ok := strings.Cut(rep.Call, "."); !ok {
			return invalid("call %q is not app.function", rep.Call)
		}
		if len(rep.Args) > 0 && !json.Valid(rep.Args) {
			return invalid("arguments are not JSON")
		}
	}
	return nil
}

func (a *App) check() error {
	m, err := specs.Parse(a.Manifest)
	if err != nil {
		return err
	}
	if m.Kind != specs.KindBuiltin && m.Kind != specs.KindMCP {
		return invalid("app %s: kind %q, want builtin or mcp (its code is the scenario app either way)", m.ID, m.Kind)
	}
	a.parsed = m
	if len(a.Manifest2) > 0 {
		m2, err := specs.Parse(a.Manifest2)
		if err != nil {
			return fmt.Errorf("manifest_v2: %w", err)
		}
		if m2.ID != m.ID {
			return invalid("manifest_v2 renames %s to %s", m.ID, m2.ID)
		}
		a.parsed2 = m2
	}
	mcp := m.Kind == specs.KindMCP
	if len(a.MCPTools) > 0 && !mcp {
		return invalid("app %s: mcp_tools is for apps of kind mcp", m.ID)
	}
	for i, t := range a.MCPTools {
		if !isObject(t) {
			return invalid("app %s: mcp_tools %d is not a JSON object", m.ID, i+1)
		}
	}
	for _, fs := range []map[string]Behaviour{a.Functions, a.FunctionsV2} {
		for name, b := range fs {
			if !a.declares(name) {
				return invalid("app %s: behaviour for undeclared function %q", m.ID, name)
			}
			if err := b.check(mcp, true); err != nil {
				return fmt.Errorf("app %s.%s: %w", m.ID, name, err)
			}
		}
	}
	return nil
}

func (a *App) declares(name string) bool {
	if _, ok := a.parsed.Function(name); ok {
		return true
	}
	if a.parsed2 != nil {
		_, ok := a.parsed2.Function(name)
		return ok
	}
	return false
}

func (b Behaviour) check(mcp, top bool) error {
	n := 0
	for _, set := range []bool{len(b.Output) > 0, b.Error != "", b.Oversize > 0, len(b.MCPResult) > 0, b.Hang, b.Crash, len(b.Sequence) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return invalid("exactly one of output, error, oversize, mcp_result, hang, crash and sequence")
	}
	if len(b.Output) > 0 && !isObject(b.Output) {
		return invalid("output is not a JSON object (MCP structured content)")
	}
	if b.Oversize > MaxOversize {
		return invalid("oversize above %d", MaxOversize)
	}
	if len(b.MCPResult) > 0 && (!mcp || !isObject(b.MCPResult)) {
		return invalid("mcp_result is a JSON object, for apps of kind mcp")
	}
	if b.DelayMs < 0 || b.DelayMs > MaxDelayMs {
		return invalid("delay_ms %d: want 0 to %d", b.DelayMs, MaxDelayMs)
	}
	if len(b.Sequence) > 0 && !top {
		return invalid("a sequence inside a sequence")
	}
	for i, s := range b.Sequence {
		if err := s.check(mcp, false); err != nil {
			return fmt.Errorf("sequence %d: %w", i+1, err)
		}
	}
	if (b.By == "") != (len(b.Outputs) == 0) {
		return invalid("by and outputs go together")
	}
	for k, o := range b.Outputs {
		if !isObject(o) {
			return invalid("output for %q is not a JSON object", k)
		}
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	var v map[string]any
	return json.Unmarshal(raw, &v) == nil && v != nil
}
