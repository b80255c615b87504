package query

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/engine/store"
)

// TestMemoryMatchesStore: what the cache returns is what the store holds
// (its newest turns, oldest first), through appends from several
// goroutines, a user read before and after appends, another never read
// before, and a read of fewer turns.
func TestMemoryMatchesStore(t *testing.T) {
	st, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := NewMemory(st, 3)
	if got, err := m.Recent(st, "alice", 3); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				for _, u := range []string{"alice", "bob"} {
					if err := m.Append(st, u, store.Turn{At: time.Now().UTC(), QueryID: fmt.Sprint(g, i), Query: fmt.Sprintf("q %d %d", g, i)}); err != nil {
						t.Error(err)
					}
				}
				if _, err := m.Recent(st, "alice", 2); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for _, u := range []string{"alice", "bob"} {
		for _, n := range []int{3, 2} {
			got, err := m.Recent(st, u, n)
			if err != nil {
				t.Fatal(err)
			}
			want, err := st.RecentTurns(u, n)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ids(got), ids(want)) {
				t.Errorf("%s, %d turns: cache %v, store %v", u, n, ids(got), ids(want))
			}
		}
	}
	// A bad user name is the store's error, and nothing is cached.
	if err := m.Append(st, "", store.Turn{Query: "x"}); err == nil {
		t.Error("append for an empty user: no error")
	}
}

func ids(ts []store.Turn) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.QueryID)
	}
	return out
}
