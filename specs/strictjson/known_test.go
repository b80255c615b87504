package strictjson

import (
	"encoding/json"
	"errors"
	"testing"
)

type pkg struct {
	Name    string          `json:"name"`
	Version string          `json:"version"`
	Bin     json.RawMessage `json:"bin"`
}

func TestUnmarshalKnown(t *testing.T) {
	var p pkg
	if err := UnmarshalKnown([]byte(`{"name":"x","version":"1.0.0","scripts":{"a":"b"},"bin":{"x":"cli.js"}}`), &p, 1<<10); err != nil || p.Version != "1.0.0" || string(p.Bin) != `{"x":"cli.js"}` {
		t.Fatalf("%+v, %v", p, err)
	}
	for name, tt := range map[string]struct {
		in   string
		want error
	}{
		"duplicate known key":   {`{"version":"1","version":"2"}`, ErrDuplicateKey},
		"duplicate unknown key": {`{"scripts":{},"scripts":{}}`, ErrDuplicateKey},
		"case-folded key":       {`{"version":"1","VERSION":"2"}`, ErrUnknownField},
		"null":                  {`null`, ErrNull},
		"null field":            {`{"version":null}`, ErrNull},
		"trailing":              {`{"version":"1"}{"version":"2"}`, ErrTrailingData},
		"wrong type":            {`{"version":2}`, ErrType},
		"bad UTF-8":             {"{\"version\":\"\xff\"}", ErrInvalidUTF8},
	} {
		t.Run(name, func(t *testing.T) {
			var p pkg
			if err := UnmarshalKnown([]byte(tt.in), &p, 1<<10); !errors.Is(err, tt.want) {
				t.Errorf("UnmarshalKnown = %+v, %v; want %v", p, err, tt.want)
			}
		})
	}
	// The defence off: encoding/json reads the case-folded duplicate as
	// the version.
	var loose pkg
	if json.Unmarshal([]byte(`{"version":"1","VERSION":"2"}`), &loose); loose.Version != "2" {
		t.Fatalf("encoding/json read %q: the test no longer shows the ambiguity", loose.Version)
	}
}

// FuzzUnmarshalKnown: what UnmarshalKnown accepts, encoding/json reads the
// same way.
func FuzzUnmarshalKnown(f *testing.F) {
	for _, s := range []string{`{"name":"a","version":"1","bin":"x.js","other":[1]}`, `{"Name":"a"}`, `{"bin":{"a":"b"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var strict pkg
		if err := UnmarshalKnown(data, &strict, 1<<16); err != nil {
			return
		}
		var loose pkg
		if err := json.Unmarshal(data, &loose); err != nil {
			t.Fatalf("accepted what encoding/json refuses: %v", err)
		}
		a, _ := json.Marshal(strict)
		b, _ := json.Marshal(loose)
		if string(a) != string(b) {
			t.Fatalf("strict and loose differ: %s vs %s", a, b)
		}
	})
}
