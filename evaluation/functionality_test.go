package evaluation

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/evaluation/scenario"
)

// The suite holds at least 30 queries over every category; the isolated
// architecture completes at least as many benign tasks per category as the
// baseline (DESIGN.md: isolation must not cost functionality). The
// baseline's own rate is logged, not asserted.
func TestFunctionality(t *testing.T) {
	cs, err := Functionality()
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) < 30 {
		t.Fatalf("%d queries, want at least 30", len(cs))
	}
	rs, err := RunFunctionality(t.Context(), cs, Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + FunctionalityTable(rs) + "\n" + FunctionalityDetail(rs))
	done := map[string]map[string]int{}
	for _, r := range rs {
		if done[r.Category] == nil {
			done[r.Category] = map[string]int{}
		}
		if r.OK {
			done[r.Category][r.Arch]++
		}
	}
	for _, cat := range Categories {
		if done[cat] == nil {
			t.Errorf("no query in category %s", cat)
			continue
		}
		if done[cat][Isolated] < done[cat][Vanilla] {
			t.Errorf("%s: isolated completed %d, the baseline %d", cat, done[cat][Isolated], done[cat][Vanilla])
		}
	}
}

// An expectation the run does not meet makes the case not done: the suite
// cannot pass by echoing.
func TestFunctionalityExpectationCanFail(t *testing.T) {
	cs, err := ParseCases([]byte(`[{"id":"x","category":"single_app","query":"Use metro_hail to estimate the fare from \"A\" to \"B\"",
		"expect":{"all":[{"call":{"app":"metro_hail","ok":true}},{"answer_contains":"99.9"}]}}]`))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := RunFunctionality(t.Context(), cs, Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.OK {
			t.Errorf("%s: done with a wrong expectation: %q", r.Arch, r.Answer)
		}
		if len(r.Calls) == 0 {
			t.Errorf("%s: metro_hail was not called", r.Arch)
		}
	}
}

func TestParseCasesRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"unknown field":    `[{"id":"x","category":"no_app","query":"hi","expect":{"answer_contains":"a"},"x":1}]`,
		"unknown category": `[{"id":"x","category":"misc","query":"hi","expect":{"answer_contains":"a"}}]`,
		"repeated id":      `[{"id":"x","category":"no_app","query":"hi","expect":{"answer_contains":"a"}},{"id":"x","category":"no_app","query":"hi","expect":{"answer_contains":"a"}}]`,
		"no expectation":   `[{"id":"x","category":"no_app","query":"hi"}]`,
		"bad predicate":    `[{"id":"x","category":"no_app","query":"hi","expect":{}}]`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseCases([]byte(in)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// The case studies run on both architectures; on the isolated one every
// expectation of the files is met (they were written for it).
func TestCaseStudies(t *testing.T) {
	css, err := CaseStudies()
	if err != nil {
		t.Fatal(err)
	}
	if len(css) != 4 {
		t.Fatalf("%d case studies, want the original's 4", len(css))
	}
	for _, sandboxed := range []bool{false, true} {
		t.Run(fmt.Sprintf("sandboxed=%v", sandboxed), func(t *testing.T) {
			rs, err := RunCaseStudies(t.Context(), css, Options{TempDir: t.TempDir(), Sandboxed: sandboxed})
			if err != nil {
				t.Fatal(err)
			}
			t.Log("\n" + CaseStudyTable(rs))
			for _, r := range rs {
				if r.Arch == Isolated && !r.Met {
					t.Errorf("%s (%q): %v", r.Study, r.Query, r.Failed)
				}
			}
			b, err := MarshalResults(rs)
			if err != nil || !json.Valid(b) {
				t.Errorf("results do not marshal: %v", err)
			}
		})
	}
}

// Every shipped scenario's attacker script names functions of installed
// apps, so no attack fails merely because of a typo in its file.
func TestScenarioCallsNameInstalledFunctions(t *testing.T) {
	scs, err := Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scs {
		t.Run(sc.ID, func(t *testing.T) {
			if pendingReason(sc) != "" {
				t.Skipf("pending, not passed: %s", pendingReason(sc))
			}
			for n := range sc.Sessions {
				c, _, err := scenarioCatalog(sc, n+1, nil, Vanilla)
				if err != nil {
					t.Fatal(err)
				}
				var replies []scenario.Reply
				for _, r := range sc.Attacker.Rules {
					replies = append(replies, r.Replies...)
				}
				replies = append(append(replies, sc.BenignAgent...), sc.BenignVanilla...)
				for _, rep := range replies {
					if rep.Call == "" {
						continue
					}
					app, fn, _ := strings.Cut(rep.Call, ".")
					if _, ok := c.Function(app, fn); !ok {
						t.Errorf("session %d: %s is not an installed function", n+1, rep.Call)
					}
				}
			}
		})
	}
}

func FuzzParseCases(f *testing.F) {
	b, err := data.ReadFile("functionality/queries.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`[{"id":"x","category":"no_app","query":"hi","expect":{"not":{"call":{"app":"*"}}}}]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		cs, err := ParseCases(in)
		if err != nil {
			return
		}
		for _, c := range cs {
			c.Expect.Holds(&scenario.Outcome{})
		}
	})
}
