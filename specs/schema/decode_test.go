package schema

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want any
	}{
		{"object", ` {"a": [1, "x", true, null, {}]} `, map[string]any{"a": []any{json.Number("1"), "x", true, nil, map[string]any{}}}},
		{"number kept exact", `12345678901234567890.5`, json.Number("12345678901234567890.5")},
		{"escaped keys differ", `{"a":1,"b":2}`, map[string]any{"a": json.Number("1"), "b": json.Number("2")}},
		{"unicode", `"h\u00e9llo ☃"`, "héllo ☃"},
		{"empty array", `[]`, []any{}},
		{"depth 32", strings.Repeat("[", MaxDecodeDepth) + strings.Repeat("]", MaxDecodeDepth), nestArrays(MaxDecodeDepth)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.raw), 1<<10)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func nestArrays(n int) any {
	var v any = []any{}
	for range n - 1 {
		v = []any{v}
	}
	return v
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		max  int
		want error
	}{
		{"over the limit", `"abcdef"`, 7, ErrTooLarge},
		{"invalid UTF-8 in a string", "\"a\xffb\"", 100, ErrInvalidUTF8},
		{"invalid UTF-8 in a key", "{\"\xc3\":1}", 100, ErrInvalidUTF8},
		{"trailing value", `{} {}`, 100, ErrTrailingData},
		{"trailing garbage", `1 x`, 100, ErrTrailingData},
		{"trailing bracket", `[1]]`, 100, ErrTrailingData},
		{"depth 33", strings.Repeat("[", MaxDecodeDepth+1) + strings.Repeat("]", MaxDecodeDepth+1), 1000, ErrTooDeep},
		{"deep objects", strings.Repeat(`{"a":`, MaxDecodeDepth+1) + "1" + strings.Repeat("}", MaxDecodeDepth+1), 1000, ErrTooDeep},
		{"duplicate key", `{"fare":1,"fare":99}`, 100, ErrDuplicateKey},
		{"duplicate key nested", `{"a":[{"x":1,"y":2,"x":3}]}`, 100, ErrDuplicateKey},
		{"duplicate key by escape", `{"a":1,"\u0061":2}`, 100, ErrDuplicateKey},
		{"empty", ``, 100, ErrSyntax},
		{"white space only", "  \n", 100, ErrSyntax},
		{"unterminated", `{"a":1`, 100, ErrSyntax},
		{"trailing comma", `{"a":1,}`, 100, ErrSyntax},
		{"single quotes", `{'a':1}`, 100, ErrSyntax},
		{"NaN", `NaN`, 100, ErrSyntax},
		{"leading zero", `01`, 100, ErrTrailingData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Decode([]byte(tt.raw), tt.max)
			if err == nil {
				t.Fatalf("Decode accepted %q as %#v", tt.raw, v)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %q is not %v", err, tt.want)
			}
		})
	}
}

func TestDecodeAtLimit(t *testing.T) {
	if _, err := Decode([]byte(`"abcde"`), 7); err != nil {
		t.Fatalf("Decode of exactly maxBytes: %v", err)
	}
}
