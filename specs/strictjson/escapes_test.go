package strictjson

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidEscapes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"plain", `{"q": "hello"}`, true},
		{"pair", `{"q": "\ud83d\ude00"}`, true},
		{"upper-case pair", `{"q": "\uD83D\uDE00"}`, true},
		{"replacement written as such", `{"q": "\ufffd"}`, true},
		{"escaped quote and backslash", `{"q": "a\"\\u\\\ud800"}`, false},
		{"escaped backslash then u", `{"q": "\\ud800"}`, true},
		{"lone high", `{"q": "\ud800"}`, false},
		{"lone high at end of string", `{"q": "a\ud800", "r": "\udc00"}`, false},
		{"lone low", `{"q": "\udc00"}`, false},
		{"high then non-surrogate", `{"q": "\ud800\u0041"}`, false},
		{"high high low", `{"q": "\ud800\ud800\udc00"}`, false},
		{"in a key", `{"\udfff": 1}`, false},
		{"outside strings", `[1, 2, "\u0041"]`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Value([]byte(tt.in), 1<<10); err != nil {
				t.Fatalf("Value refused %s: %v (the case must be valid JSON)", tt.in, err)
			}
			err := ValidEscapes([]byte(tt.in))
			if tt.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidUTF8) {
				t.Errorf("err = %v, want ErrInvalidUTF8", err)
			}
		})
	}
}

// TestLoneSurrogateWithoutValidEscapes shows what ValidEscapes stops: the
// strict decoder alone accepts the escape and hands over U+FFFD, a text
// other than the one written.
func TestLoneSurrogateWithoutValidEscapes(t *testing.T) {
	in := []byte(`{"q": "book \ud800 now"}`)
	var v struct {
		Q string `json:"q"`
	}
	if err := Line(in, &v, 1<<10); err != nil {
		t.Fatalf("Line refused it (then ValidEscapes would not be needed): %v", err)
	}
	if !strings.ContainsRune(v.Q, utf8.RuneError) {
		t.Fatalf("decoded %q, want U+FFFD in place of the lone surrogate", v.Q)
	}
	if err := ValidEscapes(in); err == nil {
		t.Fatal("ValidEscapes accepted it")
	}
}

// FuzzValidEscapes checks ValidEscapes against what encoding/json makes of
// the input: on JSON the strict decoder accepts, it refuses exactly when
// decoding turns an escape into U+FFFD that was not written as U+FFFD.
func FuzzValidEscapes(f *testing.F) {
	for _, s := range []string{`{"q": "\ud800"}`, `{"q": "\ud83d\ude00"}`, `"\\ud800"`, `["\ufffd", "\uDC00x"]`, `{"a\ud800": 1}`, `"\ud800\ud800\udc00"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := Value(data, 1<<16); err != nil {
			return
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("Value accepted what encoding/json refuses: %v", err)
		}
		decoded := countFFFD(v)
		written := strings.Count(string(data), "\ufffd") + strings.Count(strings.ToLower(string(data)), `\ufffd`)
		err := ValidEscapes(data)
		switch {
		case err == nil && decoded > written:
			t.Fatalf("accepted %q, which decodes to %d U+FFFD, %d written", data, decoded, written)
		case err != nil && !errors.Is(err, ErrInvalidUTF8):
			t.Fatalf("refused valid JSON %q with %v", data, err)
		case err != nil && decoded <= written:
			t.Fatalf("refused %q, which decodes to no U+FFFD not written (%v)", data, err)
		}
	})
}

func countFFFD(v any) int {
	n := 0
	switch x := v.(type) {
	case string:
		n += strings.Count(x, "\ufffd")
	case []any:
		for _, e := range x {
			n += countFFFD(e)
		}
	case map[string]any:
		for k, e := range x {
			n += strings.Count(k, "\ufffd") + countFFFD(e)
		}
	}
	return n
}
