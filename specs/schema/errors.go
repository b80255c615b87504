package schema

import (
	"errors"

	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// Errors returned by Compile, Decode and Validate. Callers test them with
// errors.Is; the wrapped message says where and why.
var (
	// ErrSchema marks a schema that Compile refuses.
	ErrSchema = errors.New("invalid schema")
	// ErrUnsupportedKeyword marks a keyword outside the supported subset.
	ErrUnsupportedKeyword = errors.New("unsupported schema keyword")
	// The decoder's errors are strictjson's, so errors.Is works with either.
	ErrTooLarge     = strictjson.ErrTooLarge
	ErrTooDeep      = strictjson.ErrTooDeep
	ErrDuplicateKey = strictjson.ErrDuplicateKey
	ErrTrailingData = strictjson.ErrTrailingData
	ErrInvalidUTF8  = strictjson.ErrInvalidUTF8
	ErrSyntax       = strictjson.ErrSyntax
	// ErrInvalid marks a value that does not conform to its schema; the
	// error is a *ValidationError.
	ErrInvalid = errors.New("value does not match schema")
)

// ValidationError says where in a value validation failed and why, for
// example "$.fare: expected number, got string".
type ValidationError struct {
	// Path is a JSON path from the root "$", e.g. "$.items[2].name".
	Path string
	// Reason is hub-authored; it never quotes the offending value.
	Reason string
}

func (e *ValidationError) Error() string { return e.Path + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true for every validation failure.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }
