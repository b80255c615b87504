package label

import (
	"encoding/json"
	"testing"
)

var (
	query   = Of(Label{Kind: Query})
	planner = Of(Label{Kind: Planner})
	pm      = Of(Label{Kind: Planner}, Label{Kind: Memory})
)

// TestLiteral tries to pass values the query does not hold as the user's:
// case, width, space and look-alike variants, pieces of words, numbers
// inside numbers, encodings and paraphrases. Only an exact occurrence at
// word boundaries is the user's.
func TestLiteral(t *testing.T) {
	const q = `Use metro_hail to book a ride from "Main Street" to "Elm Avenue", pay 100 to Bob (bob@example.com) on 2025-03-07`
	tests := []struct {
		name   string
		v      any
		memory bool
		want   Set
	}{
		{"quoted phrase", "Main Street", false, query},
		{"e-mail address", "bob@example.com", false, query},
		{"date", "2025-03-07", false, query},
		{"number as written", json.Number("100"), false, query},
		{"punctuation kept", "Elm Avenue\",", false, query},
		{"case changed", "main street", false, planner},
		{"upper case", "MAIN STREET", false, planner},
		{"two spaces", "Main  Street", false, planner},
		{"non-breaking space", "Main\u00a0Street", false, planner},
		{"full-width letters", "Ｍａｉｎ Street", false, planner},
		{"Cyrillic look-alike", "Mаin Street", false, planner},
		{"zero-width joiner inside", "Main\u200dStreet", false, planner},
		{"trailing space", "Main Street ", true, pm},
		{"piece of a word", "ain Stre", false, planner},
		{"number inside a number", json.Number("10"), false, planner},
		{"number written differently", json.Number("100.0"), false, planner},
		{"base64 of a value", "TWFpbiBTdHJlZXQ=", true, pm},
		{"paraphrase from memory", "asthma (severe)", true, pm},
		{"boolean", true, false, planner},
		{"null", nil, true, pm},
		{"empty string", "", false, planner},
		{"empty list", []any{}, false, planner},
		{"list of query values", []any{"Bob", "bob@example.com"}, false, query},
		{"list with one planner value", []any{"bob@example.com", "eve@example.com"}, true, query.Union(pm)},
		{"object keys count", map[string]any{"secret": "Bob"}, false, query.Union(planner)},
		{"word at the very end", "2025-03-07", true, query},
		{"word at the very start", "Use", true, query},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Literal(tt.v, q, tt.memory)
			if got.String() != tt.want.String() {
				t.Errorf("Literal(%#v) = %s, want %s", tt.v, got, tt.want)
			}
		})
	}
}

func TestOccursFindsALaterBoundedMatch(t *testing.T) {
	// The first occurrence is inside a word, the second stands alone.
	if !Occurs("ride", "override the ride") {
		t.Error("missed the bounded occurrence after an unbounded one")
	}
	if Occurs("ride", "override rides") {
		t.Error("matched inside words")
	}
}

func TestSet(t *testing.T) {
	mail := Output("mail", "search", "s1")
	drive := Output("drive", "retrieve", "d2")
	s := Of(drive, mail, mail, Label{Kind: Query})
	if len(s) != 3 {
		t.Fatalf("set %s has repeats", s)
	}
	if !s.FromApps() || !s.FromOtherApp("mail") || s.FromOtherApp("x") == false {
		t.Errorf("app tests on %s", s)
	}
	if Of(mail).FromOtherApp("mail") {
		t.Error("mail's own output counted as another app's")
	}
	if got := Of(Output("mail", "", "a")).Sources(); len(got) != 1 || got[0] != "mail.*" {
		t.Errorf("assistant source %v", got)
	}
	if !query.OnlyQuery() || Set(nil).OnlyQuery() || query.Union(planner).OnlyQuery() {
		t.Error("OnlyQuery")
	}
	// Union never changes its operands.
	a := Of(mail)
	_ = a.Union(Of(drive))
	if len(a) != 1 {
		t.Error("Union modified its receiver")
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
	if err := Of(Label{Kind: "hub"}).Check(); err == nil {
		t.Error("unknown kind accepted")
	}
	if got := s.Apps(); len(got) != 2 || got[0] != "drive" {
		t.Errorf("apps %v", got)
	}
}
