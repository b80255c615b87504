// Package strictjson is the one JSON decoder for every file, line and
// message that a person or an app wrote: policies, batch lines, manifests,
// plans, scenarios, app data files and worker messages. encoding/json alone
// takes the last of two duplicate keys, matches field names in any case,
// ignores unknown fields, turns bad UTF-8 into U+FFFD, leaves a struct
// untouched on null and stops reading after the first value; each of those
// lets a second reader see something other than what a validator saw. This
// package refuses all of them.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"
)

// MaxDepth is how deeply arrays and objects may nest.
const MaxDepth = 32

// Errors. Callers test them with errors.Is; the wrapped message says where.
var (
	// ErrTooLarge marks input longer than the caller's byte limit.
	ErrTooLarge = errors.New("input too large")
	// ErrTooDeep marks JSON nested deeper than MaxDepth.
	ErrTooDeep = errors.New("input nested too deeply")
	// ErrDuplicateKey marks an object that names the same key twice.
	ErrDuplicateKey = errors.New("duplicate object key")
	// ErrTrailingData marks bytes after the single JSON value.
	ErrTrailingData = errors.New("trailing data after JSON value")
	// ErrInvalidUTF8 marks input that is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
	// ErrSyntax marks input that is not JSON.
	ErrSyntax = errors.New("invalid JSON")
	// ErrUnknownField marks an object key that names no field (exactly, case
	// included) of the struct it is decoded into.
	ErrUnknownField = errors.New("unknown field")
	// ErrNull marks null where the Go type has no way to hold "absent" (only
	// pointers and interfaces may be null).
	ErrNull = errors.New("null not allowed")
	// ErrType marks a value of the wrong JSON type for its field.
	ErrType = errors.New("wrong type")
)

// Value parses one JSON value into plain Go data: map[string]any, []any,
// string, json.Number, bool and nil. It refuses input longer than maxBytes,
// invalid UTF-8, nesting deeper than MaxDepth, an object that names a key
// twice, and anything after the value but white space.
func Value(data []byte, maxBytes int) (any, error) {
	if len(data) > maxBytes {
		return nil, fmt.Errorf("%d bytes, limit %d: %w", len(data), maxBytes, ErrTooLarge)
	}
	if !utf8.Valid(data) {
		return nil, ErrInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrTrailingData
	}
	return v, nil
}

// Unmarshal decodes data into v (a non-nil pointer) strictly: everything
// Value refuses, plus a key that names no field of its struct (compared
// exactly, not case-insensitively), null anywhere but a pointer or an
// interface, and a value of the wrong type.
func Unmarshal(data []byte, v any, maxBytes int) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("strictjson: Unmarshal needs a non-nil pointer, got %T", v)
	}
	gv, err := Value(data, maxBytes)
	if err != nil {
		return err
	}
	return decodeInto(data, gv, rv, false)
}

// UnmarshalKnown is Unmarshal for a format this project reads only part
// of (a package's package.json): keys that name no field are skipped, not
// refused. Everything else Unmarshal refuses still is, duplicate keys
// first, so the part read is the part every other reader sees.
func UnmarshalKnown(data []byte, v any, maxBytes int) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("strictjson: UnmarshalKnown needs a non-nil pointer, got %T", v)
	}
	gv, err := Value(data, maxBytes)
	if err != nil {
		return err
	}
	return decodeInto(data, gv, rv, true)
}

// decodeInto checks gv, the generic form of data, against the type rv
// points to, then decodes data into it.
func decodeInto(data []byte, gv any, rv reflect.Value, unknownOK bool) error {
	if err := check(gv, rv.Type().Elem(), "$", unknownOK); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if !unknownOK {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(rv.Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("$.%s: %s for %s: %w", te.Field, te.Value, te.Type, ErrType)
		}
		return fmt.Errorf("%v: %w", err, ErrType)
	}
	return nil
}

// Line reads one line of a JSON-lines stream as Unmarshal would read a
// file: a line past maxBytes, or with anything but one value, is refused.
func Line(line []byte, v any, maxBytes int) error {
	return Unmarshal(bytes.TrimRight(line, "\r\n"), v, maxBytes)
}

var (
	unmarshaler = reflect.TypeFor[json.Unmarshaler]()
	rawMessage  = reflect.TypeFor[json.RawMessage]()
)

// check walks the generic value beside the Go type it will be decoded
// into; unknownOK skips keys that name no field instead of refusing them.
func check(gv any, t reflect.Type, path string, unknownOK bool) error {
	if gv == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Interface:
			return nil
		}
		return fmt.Errorf("%s: %w", path, ErrNull)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// A type that decodes itself (json.RawMessage among them) is its own
	// reader: its bytes were already checked for duplicates and syntax.
	if t == rawMessage || t.Implements(unmarshaler) || reflect.PointerTo(t).Implements(unmarshaler) {
		return nil
	}
	switch g := gv.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Struct:
			fields := fieldsOf(t)
			for k, sub := range g {
				ft, ok := fields[k]
				if !ok && unknownOK && !foldsToField(k, fields) {
					continue // encoding/json skips it too
				}
				if !ok {
					return fmt.Errorf("%s: %s: %w", path, quote(k), ErrUnknownField)
				}
				if err := check(sub, ft, path+"."+k, unknownOK); err != nil {
					return err
				}
			}
		case reflect.Map:
			for k, sub := range g {
				if err := check(sub, t.Elem(), path+"."+k, unknownOK); err != nil {
					return err
				}
			}
		case reflect.Interface:
		default:
			return fmt.Errorf("%s: object for %s: %w", path, t, ErrType)
		}
	case []any:
		switch t.Kind() {
		case reflect.Slice, reflect.Array:
			for i, sub := range g {
				if err := check(sub, t.Elem(), fmt.Sprintf("%s[%d]", path, i), unknownOK); err != nil {
					return err
				}
			}
		case reflect.Interface:
		default:
			return fmt.Errorf("%s: array for %s: %w", path, t, ErrType)
		}
	}
	return nil
}

// foldsToField says whether encoding/json would take key, which names no
// field exactly, for one of fields (it matches names ignoring case).
func foldsToField(key string, fields map[string]reflect.Type) bool {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return true
		}
	}
	return false
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// fieldsOf maps each JSON name of t's fields (embedded structs flattened,
// as encoding/json does) to the field's type.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	out := map[string]reflect.Type{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, dup := out[name]; !dup {
				out[name] = f.Type
			}
		}
	}
	walk(t)
	fieldCache.Store(t, out)
	return out
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
		if depth+1 > MaxDepth {
			return nil, ErrTooDeep
		}
		switch t {
		case '{':
			return decodeObject(dec, depth+1)
		case '[':
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
			return nil, fmt.Errorf("key %s: %w", quote(key), ErrDuplicateKey)
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

// quote quotes untrusted text for an error message, escaped and cut to a
// length that keeps the message readable.
func quote(s string) string {
	const max = 40
	r := []rune(s)
	if len(r) > max {
		return fmt.Sprintf("%+q…", string(r[:max]))
	}
	return fmt.Sprintf("%+q", s)
}
