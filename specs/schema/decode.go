package schema

import (
	"fmt"

	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// Decode parses one untrusted JSON value into plain Go data: map[string]any,
// []any, string, json.Number, bool and nil, refusing everything
// strictjson.Value refuses (size, UTF-8, depth, duplicate keys, trailing
// data).
func Decode(raw []byte, maxBytes int) (any, error) {
	v, err := strictjson.Value(raw, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return v, nil
}

// quoteShort quotes untrusted text for an error message, cut to a length
// that keeps the message readable.
func quoteShort(s string) string {
	const max = 40
	r := []rune(s)
	if len(r) > max {
		return fmt.Sprintf("%q…", string(r[:max]))
	}
	return fmt.Sprintf("%q", s)
}
