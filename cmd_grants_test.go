package main

import (
	"strings"
	"testing"
	"time"
)

// A grant a batch policy stored is named by the batch, used by a later ask
// (which says so), listed by grants list and gone after grants revoke.
func TestGrantsFromABatchAreVisibleAndRevocable(t *testing.T) {
	data := t.TempDir()
	policy := writePolicy(t, `{"default": "deny", "rules": [{"kind": "exec", "app": "metro_hail", "function": "estimate_fare", "decision": "allow_always"}]}`)
	b := command(Batch, `{"id": "1", "query": "Use metro_hail to estimate the fare from \"A\" to \"B\""}`+"\n", "--data", data, "--policy", policy)
	if b.code != ExitOK || !strings.Contains(b.err, "stored 1 permanent grant(s)") || !strings.Contains(b.err, "exec:metro_hail.estimate_fare") {
		t.Fatalf("batch: %v", b)
	}
	l := command(Grants, "", "list", "--data", data)
	lines := strings.Split(strings.TrimSpace(l.out), "\n")
	if l.code != ExitOK || len(lines) != 2 || !strings.Contains(lines[1], "exec:metro_hail.estimate_fare") {
		t.Fatalf("grants list: %v", l)
	}
	key := strings.Fields(lines[1])[1]
	if !strings.Contains(b.err, key) {
		t.Errorf("the batch named another grant than the list: %q\n%s", key, b.err)
	}
	// Without --yes and with no input: the grant decides, and ask says so.
	a := command(Ask, "", "--data", data, fareAB)
	if a.code != ExitOK || !strings.Contains(a.out, "fare 17.6") || !strings.Contains(a.err, "allowed by your permanent grant "+key) ||
		!strings.Contains(a.err, "isolategpt grants revoke "+shellQuote(key)) {
		t.Fatalf("ask with the grant: %v", a)
	}
	if r := command(Grants, "", "revoke", "--data", data, key); r.code != ExitOK || !strings.Contains(r.out, "revoked "+key) {
		t.Fatalf("grants revoke: %v", r)
	}
	if r := command(Grants, "", "list", "--data", data); r.code != ExitOK || strings.Contains(r.out, key) || !strings.Contains(r.err, "no permanent grants") {
		t.Fatalf("grants list after revoke: %v", r)
	}
	// Asked again: end of input denies.
	if a := command(Ask, "", "--data", data, fareAB); !strings.Contains(a.out, "metro_hail.estimate_fare: denied") {
		t.Errorf("ask after revoke: %v", a)
	}
}

func TestGrantsUsage(t *testing.T) {
	data := t.TempDir()
	for name, tc := range map[string]struct {
		args []string
		code int
		err  string
	}{
		"no subcommand":          {nil, ExitUsage, "missing command"},
		"revoke without a key":   {[]string{"revoke", "--data", data}, ExitUsage, "missing KEY"},
		"revoke a key and --all": {[]string{"revoke", "--all", "--data", data, "k"}, ExitUsage, "or --all"},
		"revoke an unknown key":  {[]string{"revoke", "--data", data, "exec:nope.x"}, ExitFailed, `"exec:nope.x": no such grant`},
		"bad user":               {[]string{"list", "--data", data, "--user", "../x"}, ExitUsage, "--user"},
	} {
		t.Run(name, func(t *testing.T) {
			if r := command(Grants, "", tc.args...); r.code != tc.code || !strings.Contains(r.err, tc.err) {
				t.Errorf("%v, want exit %d naming %q", r, tc.code, tc.err)
			}
		})
	}
}

// The audit filters combine, and say which value is wrong.
func TestAuditFilters(t *testing.T) {
	data := t.TempDir()
	if r := command(Ask, "", "--data", data, "--yes", fareAB); r.code != ExitOK {
		t.Fatal(r)
	}
	all := command(Audit, "", "--data", data, "--json")
	var qid string
	for _, l := range strings.Split(strings.TrimSpace(all.out), "\n") {
		if i := strings.Index(l, `"query_id":"`); i >= 0 && qid == "" {
			qid = l[i+12 : i+12+strings.Index(l[i+12:], `"`)]
		}
	}
	if r := command(Ask, "", "--data", data, "--yes", `Use quick_ride to estimate the fare from "A" to "B"`); r.code != ExitOK {
		t.Fatal(r)
	}
	lines := func(r cmdRun) []string { return strings.Split(strings.TrimSpace(r.out), "\n") }
	for name, tc := range map[string]struct {
		args []string
		ok   func(l string) bool
	}{
		"kind":         {[]string{"--kind", "permission"}, func(l string) bool { return strings.Contains(l, " permission ") }},
		"kinds":        {[]string{"--kind", "plan,answer"}, func(l string) bool { return strings.Contains(l, " plan ") || strings.Contains(l, " answer ") }},
		"app":          {[]string{"--app", "quick_ride"}, func(l string) bool { return strings.Contains(l, "quick_ride") }},
		"query":        {[]string{"--query", qid}, func(l string) bool { return strings.Contains(l, "query="+qid) }},
		"since":        {[]string{"--since", "1h", "--kind", "answer"}, func(l string) bool { return strings.Contains(l, " answer ") }},
		"app and kind": {[]string{"--app", "metro_hail", "--kind", "step"}, func(l string) bool { return strings.Contains(l, " step ") && strings.Contains(l, "metro_hail") }},
	} {
		t.Run(name, func(t *testing.T) {
			r := command(Audit, "", append([]string{"--data", data}, tc.args...)...)
			if r.code != ExitOK || r.out == "" {
				t.Fatalf("%v", r)
			}
			for _, l := range lines(r) {
				if !tc.ok(l) {
					t.Errorf("line does not match the filter: %s", l)
				}
			}
			if len(lines(r)) >= len(lines(all))+4 {
				t.Errorf("the filter kept everything")
			}
		})
	}
	future := time.Now().Add(time.Hour).Format(time.RFC3339)
	if r := command(Audit, "", "--data", data, "--since", future); r.code != ExitOK || r.out != "" || !strings.Contains(r.err, "no audit records") {
		t.Errorf("--since the future: %v", r)
	}
	for name, tc := range map[string][]string{
		"unknown kind": {"--kind", "plann"},
		"bad since":    {"--since", "yesterday"},
	} {
		if r := command(Audit, "", append([]string{"--data", data}, tc...)...); r.code != ExitUsage || !strings.Contains(r.err, tc[0]) {
			t.Errorf("%s: %v", name, r)
		}
	}
}
