package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Decode parses one untrusted JSON value into plain Go data: map[string]any,
// []any, string, json.Number, bool and nil. It refuses input longer than
// maxBytes, invalid UTF-8, nesting deeper than MaxDecodeDepth, an object that
// names a key twice (a second value could otherwise slip past a validator
// that saw the first), and anything after the value but white space.
func Decode(raw []byte, maxBytes int) (any, error) {
	if len(raw) > maxBytes {
		return nil, fmt.Errorf("decode: %d bytes, limit %d: %w", len(raw), maxBytes, ErrTooLarge)
	}
	// encoding/json would quietly turn bad bytes into U+FFFD.
	if !utf8.Valid(raw) {
		return nil, fmt.Errorf("decode: %w", ErrInvalidUTF8)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("decode: %w", ErrTrailingData)
	}
	return v, nil
}

// decodeValue reads the next value; depth counts the arrays and objects it
// is already inside.
func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			if depth+1 > MaxDecodeDepth {
				return nil, ErrTooDeep
			}
			return decodeObject(dec, depth+1)
		case '[':
			if depth+1 > MaxDecodeDepth {
				return nil, ErrTooDeep
			}
			return decodeArray(dec, depth+1)
		}
		return nil, ErrSyntax
	case string, json.Number, bool, nil:
		return t, nil
	}
	return nil, ErrSyntax
}

func decodeObject(dec *json.Decoder, depth int) (any, error) {
	obj := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, ErrSyntax
		}
		if _, dup := obj[key]; dup {
			return nil, fmt.Errorf("key %s: %w", quoteShort(key), ErrDuplicateKey)
		}
		v, err := decodeValue(dec, depth)
		if err != nil {
			return nil, err
		}
		obj[key] = v
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, syntaxError(err)
	}
	return obj, nil
}

func decodeArray(dec *json.Decoder, depth int) (any, error) {
	arr := []any{}
	for dec.More() {
		v, err := decodeValue(dec, depth)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	if _, err := dec.Token(); err != nil { // ']'
		return nil, syntaxError(err)
	}
	return arr, nil
}

func syntaxError(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("unexpected end of input: %w", ErrSyntax)
	}
	return fmt.Errorf("%v: %w", err, ErrSyntax)
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
