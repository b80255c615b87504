package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		described,
		`{"type":"string","minLength":1,"maxLength":200}`,
		`{"type":["integer","null"],"enum":[1,null],"minimum":0}`,
		`{"type":"array","items":{"type":"string","format":"email"},"maxItems":3}`,
		`{"type":"object","additionalProperties":true,"required":[]}`,
		`{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"boolean"}}}}}`,
		`{"type":"string","oneOf":[]}`,
		`{"type":"number","minimum":1e308,"maximum":1.7976931348623157e308}`,
		`{"type":"string","enum":["a","a"]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := Compile(raw)
		if err != nil {
			return
		}
		pub, err := json.Marshal(s.Public())
		if err != nil {
			t.Fatalf("marshal Public: %v", err)
		}
		if p := prose(s.Public()); len(p) != 0 {
			t.Fatalf("Public kept %v", p)
		}
		again, err := Compile(pub)
		if err != nil {
			t.Fatalf("Public %s does not re-compile: %v", pub, err)
		}
		pub2, _ := json.Marshal(again.Public())
		if !bytes.Equal(pub, pub2) {
			t.Fatalf("Public changed on re-compile:\n%s\n%s", pub, pub2)
		}
		full, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		if _, err := Compile(full); err != nil {
			t.Fatalf("MarshalJSON %s does not re-compile: %v", full, err)
		}
		// The schema's own source is as good a value as any to validate.
		if v, err := Decode(raw, MaxSchemaBytes); err == nil {
			_ = s.Validate(v)
		}
		_ = Assignable(s, again)
		if !Assignable(s, again) {
			t.Fatalf("schema %s not assignable to itself", pub)
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"a":1}`, `{"a":1,"a":2}`, `[1,"x",null,true,{"b":[]}]`, `"\u00e9"`, `1e400`,
		"\"\xff\"", `{} {}`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	} {
		f.Add([]byte(seed), uint16(64))
	}
	f.Fuzz(func(t *testing.T, raw []byte, max uint16) {
		v, err := Decode(raw, int(max))
		if len(raw) > int(max) {
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%d bytes over a limit of %d: %v", len(raw), max, err)
			}
			return
		}
		if err != nil {
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("Decode accepted invalid JSON %q", raw)
		}
		if d := depth(v); d > MaxDecodeDepth {
			t.Fatalf("Decode accepted depth %d", d)
		}
		re, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		v2, err := Decode(re, len(re))
		if err != nil {
			t.Fatalf("re-decode %s: %v", re, err)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("round trip changed %#v to %#v", v, v2)
		}
		// Repeat the first key of an object anywhere: it must be refused.
		if obj, ok := v.(map[string]any); ok && len(obj) > 0 {
			var key string
			for k := range obj {
				key = k
				break
			}
			k, _ := json.Marshal(key)
			trimmed := bytes.TrimLeft(raw, " \t\r\n")
			dup := append(append(append([]byte("{"), k...), []byte(":0,")...), trimmed[1:]...)
			if _, err := Decode(dup, len(dup)); !errors.Is(err, ErrDuplicateKey) {
				t.Fatalf("duplicate key %s in %q: %v", k, dup, err)
			}
		}
	})
}

func depth(v any) int {
	d := 0
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			d = max(d, depth(e))
		}
		return d + 1
	case []any:
		for _, e := range v {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}
