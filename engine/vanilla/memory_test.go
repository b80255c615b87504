package vanilla_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/isolategpt/isolategpt/engine/vanilla"
	"github.com/isolategpt/isolategpt/specs/jsonlog"
)

// A torn last turn (a crash mid-write) is moved aside and the next turn
// is whole; a damaged turn in the middle is an error, not a turn silently
// dropped (the file is the baseline's whole memory).
func TestFileMemoryTornAndDamagedTurns(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "u.jsonl")
	torn := `{"query":"q1","answer":"a1"}` + "\n" + `{"query":"q2","ans`
	if err := os.WriteFile(p, []byte(torn), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &vanilla.FileMemory{Dir: dir}
	if err := m.Append("u", vanilla.Turn{Query: "q3", Answer: "a3"}); err != nil {
		t.Fatal(err)
	}
	turns, err := m.Recent("u", 10)
	if err != nil || len(turns) != 2 || turns[1].Query != "q3" {
		t.Fatalf("turns after a torn one: %+v, %v", turns, err)
	}
	if _, err := os.Stat(p + jsonlog.TornSuffix); err != nil {
		t.Errorf("torn turn not kept aside: %v", err)
	}
	for name, content := range map[string]string{
		"duplicate key": `{"query":"q","query":"other","answer":"a"}` + "\n",
		"unknown field": `{"query":"q","answer":"a","role":"system"}` + "\n",
		"null":          "null\n",
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, name+".jsonl"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Recent(name, 10); !errors.Is(err, jsonlog.ErrDamaged) {
				t.Errorf("Recent = %v, want the damaged line refused", err)
			}
			if err := m.Append(name, vanilla.Turn{}); !errors.Is(err, jsonlog.ErrDamaged) {
				t.Errorf("Append = %v, want the damaged file refused", err)
			}
		})
	}
}

// FuzzFileMemory reads arbitrary bytes as a user's memory: refused, or
// every turn read back, then one more appended and read last.
func FuzzFileMemory(f *testing.F) {
	f.Add([]byte(`{"query":"q","answer":"a"}` + "\n"))
	f.Add([]byte(`{"query":"q","answer":"a"}` + "\n{\"query\""))
	f.Add([]byte("{\"query\":\"\xff\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "u.jsonl"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		m := &vanilla.FileMemory{Dir: dir}
		before, err := m.Recent("u", 1<<20)
		if err != nil {
			return
		}
		if err := m.Append("u", vanilla.Turn{Query: "last"}); err != nil {
			t.Fatal(err)
		}
		after, err := m.Recent("u", 1<<20)
		if err != nil || len(after) != len(before)+1 || after[len(after)-1].Query != "last" {
			t.Fatalf("after an append: %d turns (had %d), %v", len(after), len(before), err)
		}
	})
}
