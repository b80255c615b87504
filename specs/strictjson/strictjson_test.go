package strictjson

import (
	"encoding/json"
	"errors"
	"testing"
)

type inner struct {
	N int `json:"n"`
}

type Embedded struct {
	E string `json:"e"`
}

type target struct {
	Embedded
	Name  string            `json:"name"`
	Opt   *inner            `json:"opt,omitempty"`
	In    inner             `json:"in"`
	List  []string          `json:"list"`
	Map   map[string]inner  `json:"map"`
	Any   any               `json:"any"`
	Raw   json.RawMessage   `json:"raw"`
	Flags map[string]string `json:"flags"`
	skip  int
}

func TestUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"ok", `{"name":"a","in":{"n":1},"list":["x"],"map":{"k":{"n":2}},"any":null,"raw":{"z":1},"e":"emb"}`, nil},
		{"null pointer ok", `{"opt":null}`, nil},
		{"duplicate key", `{"name":"a","name":"b"}`, ErrDuplicateKey},
		{"duplicate key nested", `{"in":{"n":1,"n":2}}`, ErrDuplicateKey},
		{"duplicate key inside raw", `{"raw":{"a":1,"a":2}}`, ErrDuplicateKey},
		{"case-folded key", `{"Name":"a"}`, ErrUnknownField},
		{"case-folded duplicate", `{"name":"a","NAME":"b"}`, ErrUnknownField},
		{"unknown field", `{"nope":1}`, ErrUnknownField},
		{"unknown nested field", `{"in":{"m":1}}`, ErrUnknownField},
		{"unexported field", `{"skip":1}`, ErrUnknownField},
		{"trailing object", `{"name":"a"}{"name":"b"}`, ErrTrailingData},
		{"trailing garbage", `{"name":"a"} x`, ErrTrailingData},
		{"top-level null", `null`, ErrNull},
		{"null struct", `{"in":null}`, ErrNull},
		{"null string", `{"name":null}`, ErrNull},
		{"null in list", `{"list":[null]}`, ErrNull},
		{"null map value", `{"map":{"k":null}}`, ErrNull},
		{"wrong type", `{"name":1}`, ErrType},
		{"array for struct", `{"in":[1]}`, ErrType},
		{"object for list", `{"list":{}}`, ErrType},
		{"bad utf8", "{\"name\":\"\xff\"}", ErrInvalidUTF8},
		{"syntax", `{"name":`, ErrSyntax},
		{"empty", ``, ErrSyntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v target
			err := Unmarshal([]byte(tc.in), &v, 1<<20)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestUnmarshalDecodes(t *testing.T) {
	var v target
	if err := Unmarshal([]byte(`{"name":"a","e":"emb","in":{"n":3},"any":{"k":[1]}}`), &v, 1<<20); err != nil {
		t.Fatal(err)
	}
	if v.Name != "a" || v.E != "emb" || v.In.N != 3 || v.Any == nil {
		t.Errorf("decoded %+v", v)
	}
}

func TestLimits(t *testing.T) {
	var v any
	if err := Unmarshal([]byte(`"12345"`), &v, 4); !errors.Is(err, ErrTooLarge) {
		t.Errorf("size: %v", err)
	}
	deep := ""
	for range MaxDepth + 1 {
		deep += "["
	}
	for range MaxDepth + 1 {
		deep += "]"
	}
	if err := Unmarshal([]byte(deep), &v, 1<<20); !errors.Is(err, ErrTooDeep) {
		t.Errorf("depth: %v", err)
	}
	if err := Unmarshal([]byte(`{}`), v, 10); err == nil {
		t.Error("a non-pointer was accepted")
	}
}

func TestLine(t *testing.T) {
	var v struct {
		Q string `json:"q"`
	}
	if err := Line([]byte("{\"q\":\"x\"}\r\n"), &v, 100); err != nil || v.Q != "x" {
		t.Fatalf("%v %+v", err, v)
	}
}

// FuzzUnmarshal: whatever the bytes, Unmarshal never panics, and what it
// accepts encoding/json also accepts with the same result.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`{"name":"a","in":{"n":1}}`, `{"list":["a",null]}`, `{"map":{"k":{"n":1}}}`, `[`, `{"raw":[1,2]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var strict target
		if err := Unmarshal(data, &strict, 1<<16); err != nil {
			return
		}
		var loose target
		if err := json.Unmarshal(data, &loose); err != nil {
			t.Fatalf("strict accepted what encoding/json refuses: %v", err)
		}
		a, _ := json.Marshal(strict)
		b, _ := json.Marshal(loose)
		if string(a) != string(b) {
			t.Fatalf("strict and loose differ: %s vs %s", a, b)
		}
	})
}
