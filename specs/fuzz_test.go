package specs

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse is best run with -fuzzminimizetime=2s: the seeds are whole
// manifests of a few kilobytes, and minimizing each new input for the default
// minute keeps a worker from fuzzing at all.
func FuzzParse(f *testing.F) {
	for _, id := range []string{"metro_hail", "quick_ride", "travel_mate", "health_companion", "symptom_solver", "creative_muse"} {
		data, err := apps.ReadFile("apps/" + id + ".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(encode(f, base()))
	f.Add([]byte(`{"id":"a","id":"b"}`))
	f.Add([]byte(`{"ID":"a","version":"1","description":"d","kind":"prompt","instructions":"i"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidManifest) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v is neither ErrInvalidManifest nor ErrTooLarge", err)
			}
			return
		}
		if !validID(m.ID) {
			t.Fatalf("accepted id %q", m.ID)
		}
		for _, fn := range m.Functions {
			if !validID(fn.Name) || !fn.Input.Is("object") || !fn.Output.Is("object") {
				t.Fatalf("accepted function %+v", fn)
			}
		}
		again, err := Parse(m.Raw())
		if err != nil {
			t.Fatalf("Raw %s does not parse: %v", m.Raw(), err)
		}
		if !bytes.Equal(again.Raw(), m.Raw()) || again.Hash() != m.Hash() {
			t.Fatalf("Raw not a fixed point:\n%s\n%s", m.Raw(), again.Raw())
		}
	})
}
