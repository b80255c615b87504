package batch

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzReadInput: a batch line either is refused or reads as exactly one
// object whose fields every JSON reader agrees on — valid UTF-8, no
// U+FFFD that was not written, no second value, and encoding/json (which
// takes the last of two keys) reading the same fields.
func FuzzReadInput(f *testing.F) {
	for _, s := range []string{
		`{"id": "1", "query": "Use metro_hail to estimate the fare from \"A\" to \"B\""}`,
		`{"id": "1", "query": "a", "query": "b"}`,
		`{"id": "1", "query": "a"} {"id": "2"}`,
		`{"id": "1", "query": "a\ud800"}`,
		"{\"id\": \"1\", \"query\": \"a\xff\"}",
		`{"id": "1", "query": "a", "user": null}`,
		`{"ID": "1", "query": "a"}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		in, err := ReadInput(line)
		if err != nil {
			return
		}
		if !utf8.Valid(line) {
			t.Fatalf("accepted invalid UTF-8 %q", line)
		}
		for _, v := range []string{in.ID, in.Query, in.User} {
			if strings.ContainsRune(v, utf8.RuneError) && !bytes.Contains(line, []byte("\ufffd")) && !bytes.Contains(bytes.ToLower(line), []byte(`\ufffd`)) {
				t.Fatalf("accepted %q, which reads as %q: U+FFFD not written", line, v)
			}
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		var lax Input
		if err := dec.Decode(&lax); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", line, err)
		}
		if lax != in {
			t.Fatalf("accepted %q: read as %+v, encoding/json reads %+v", line, in, lax)
		}
		if dec.More() {
			t.Fatalf("accepted %q, which has a second value", line)
		}
		again, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := ReadInput(again); err != nil || back != in {
			t.Fatalf("%+v re-encoded as %s reads back as %+v, %v", in, again, back, err)
		}
	})
}
