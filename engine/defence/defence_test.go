package defence

import "testing"

func TestZeroSetHasEveryDefenceOn(t *testing.T) {
	var s Set
	for _, n := range All() {
		if !s.On(n) {
			t.Errorf("%s is off in the zero set", n)
		}
		if Describe(n) == "" {
			t.Errorf("%s has no description", n)
		}
	}
}

func TestOff(t *testing.T) {
	s, err := Off(PlannerIsolation)
	if err != nil {
		t.Fatal(err)
	}
	if s.On(PlannerIsolation) {
		t.Error("planner isolation still on")
	}
	if got := s.Disabled(); len(got) != 1 || got[0] != PlannerIsolation {
		t.Errorf("Disabled() = %v", got)
	}
	if _, err := Off("no_such_defence"); err == nil {
		t.Error("an unknown defence was accepted")
	}
}
