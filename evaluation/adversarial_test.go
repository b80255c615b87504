package evaluation

import "testing"

// Every adversarial phrasing is refused with its reason, on both
// architectures: no app is called and no prompt is shown, so a user who
// approves everything cannot be led into a booking the query ruled out.
func TestAdversarialPhrasingsAreRefused(t *testing.T) {
	cs, err := Functionality()
	if err != nil {
		t.Fatal(err)
	}
	var adv []*Case
	for _, c := range cs {
		if c.Category == "adversarial" {
			adv = append(adv, c)
		}
	}
	if len(adv) < 15 {
		t.Fatalf("%d adversarial cases, want at least 15", len(adv))
	}
	rs, err := RunFunctionality(t.Context(), adv, Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if !r.OK {
			t.Errorf("%s on %s: not refused as expected: answer %q, %d call(s), error %q", r.ID, r.Arch, r.Answer, len(r.Calls), r.Error)
		}
	}
}

// A refusal expectation does not hold when an app was called, even if the
// answer says the words.
func TestRefusalNeedsNoCall(t *testing.T) {
	cs, err := ParseCases([]byte(`[{"id":"x","category":"adversarial","query":"Use metro_hail to estimate the fare from \"A\" to \"B\"","refused":{"reason_contains":"fare"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := RunFunctionality(t.Context(), cs, Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.OK {
			t.Errorf("%s: a query that ran metro_hail counted as refused", r.Arch)
		}
	}
	for name, bad := range map[string]string{
		"both":         `[{"id":"x","category":"adversarial","query":"q","expect":{"answer_contains":"a"},"refused":{"reason_contains":"a"}}]`,
		"empty reason": `[{"id":"x","category":"adversarial","query":"q","refused":{"reason_contains":" "}}]`,
	} {
		if _, err := ParseCases([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
