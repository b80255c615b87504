package batch

import (
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// BenchmarkReadInput: what refusing lone surrogates (ValidEscapes) adds
// to the strict decoding of a batch line, against the strict decoder
// alone as the baseline.
func BenchmarkReadInput(b *testing.B) {
	line := []byte(`{"id": "q-0001", "query": "Use metro_hail and quick_ride to book the cheapest ride from \"Main Street\" to \"Elm Avenue\" ` + strings.Repeat(`caf\u00e9 `, 40) + `", "user": "alice"}`)
	b.Run("baseline=strictjson.Line", func(b *testing.B) {
		for b.Loop() {
			var in Input
			if err := strictjson.Line(line, &in, MaxLineBytes); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ValidEscapes", func(b *testing.B) {
		for b.Loop() {
			if err := strictjson.ValidEscapes(line); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ReadInput", func(b *testing.B) {
		for b.Loop() {
			if _, err := ReadInput(line); err != nil {
				b.Fatal(err)
			}
		}
	})
}
