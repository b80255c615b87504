package store

import (
	"fmt"
	"slices"
	"testing"
)

func texts(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Text
	}
	return out
}

func queries(ts []Turn) []string {
	out := make([]string, len(ts))
	for i, tr := range ts {
		out[i] = tr.Query
	}
	return out
}

func TestRecent(t *testing.T) {
	s := openT(t, t.TempDir())
	m, err := s.SpokeMemory("alice", "metro_hail")
	if err != nil {
		t.Fatal(err)
	}
	const count = 5
	var all []string
	for i := range count {
		text := fmt.Sprintf("item %d", i)
		all = append(all, text)
		if err := m.Append(Entry{Role: "user", Text: text}); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendTurn("alice", Turn{Query: text}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		n    int
		want []string
	}{
		{"negative", -1, nil},
		{"zero", 0, nil},
		{"one", 1, []string{"item 4"}},
		{"fewer than count", 3, []string{"item 2", "item 3", "item 4"}},
		{"exactly count", count, all},
		{"more than count", 100, all},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			es, err := m.Recent(c.n)
			if err != nil {
				t.Fatal(err)
			}
			if got := texts(es); !slices.Equal(got, c.want) {
				t.Errorf("Recent(%d) = %q, want %q", c.n, got, c.want)
			}
			ts, err := s.RecentTurns("alice", c.n)
			if err != nil {
				t.Fatal(err)
			}
			if got := queries(ts); !slices.Equal(got, c.want) {
				t.Errorf("RecentTurns(%d) = %q, want %q", c.n, got, c.want)
			}
		})
	}
}

func TestRecentEmpty(t *testing.T) {
	s := openT(t, t.TempDir())
	ts, err := s.RecentTurns("nobody", 10)
	if err != nil || len(ts) != 0 {
		t.Errorf("RecentTurns on empty = %v, %v", ts, err)
	}
}

// TestSpokeIsolation writes through one handle per (user, app) pair, with
// names chosen so that one is a prefix of another, and checks each handle
// reads back exactly its own entries.
func TestSpokeIsolation(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	pairs := [][2]string{
		{"alice", "metro_hail"},
		{"alice", "quick_ride"},
		{"bob", "metro_hail"},
		{"alice", "metro"},   // prefix of metro_hail
		{"al", "metro_hail"}, // prefix of alice
		{"alice.x", "metro_hail"},
	}
	for i, p := range pairs {
		m, err := s.SpokeMemory(p[0], p[1])
		if err != nil {
			t.Fatal(err)
		}
		if m.App() != p[1] {
			t.Errorf("App() = %q, want %q", m.App(), p[1])
		}
		// Different counts per pair, so a leak changes the length.
		for j := 0; j <= i; j++ {
			if err := m.Append(Entry{Text: p[0] + "/" + p[1]}); err != nil {
				t.Fatal(err)
			}
		}
	}
	s = reopen(t, s, dir)
	for i, p := range pairs {
		t.Run(p[0]+"_"+p[1], func(t *testing.T) {
			m, err := s.SpokeMemory(p[0], p[1])
			if err != nil {
				t.Fatal(err)
			}
			es, err := m.Recent(100)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != i+1 {
				t.Errorf("got %d entries, want %d: %q", len(es), i+1, texts(es))
			}
			for _, e := range es {
				if e.Text != p[0]+"/"+p[1] {
					t.Errorf("entry %q leaked into %s/%s", e.Text, p[0], p[1])
				}
			}
		})
	}
}

func TestTurnsPerUser(t *testing.T) {
	s := openT(t, t.TempDir())
	users := []string{"alice", "bob", "alice2", "Alice"}
	for i, u := range users {
		for range i + 1 {
			if err := s.AppendTurn(u, Turn{Query: u}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, u := range users {
		t.Run(u, func(t *testing.T) {
			ts, err := s.RecentTurns(u, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) != i+1 {
				t.Errorf("got %d turns, want %d", len(ts), i+1)
			}
			for _, tr := range ts {
				if tr.Query != u {
					t.Errorf("turn of %q visible to %q", tr.Query, u)
				}
			}
		})
	}
}

func TestZeroTimeIsFilled(t *testing.T) {
	s := openT(t, t.TempDir())
	if err := s.AppendTurn("alice", Turn{Query: "q"}); err != nil {
		t.Fatal(err)
	}
	ts, err := s.RecentTurns("alice", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].At.IsZero() {
		t.Errorf("turn At not set: %+v", ts)
	}
}
