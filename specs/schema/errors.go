package schema

import "errors"

// Errors returned by Compile, Decode and Validate. Callers test them with
// errors.Is; the wrapped message says where and why.
var (
	// ErrSchema marks a schema that Compile refuses.
	ErrSchema = errors.New("invalid schema")
	// ErrUnsupportedKeyword marks a keyword outside the supported subset.
	ErrUnsupportedKeyword = errors.New("unsupported schema keyword")
	// ErrTooLarge marks input longer than the caller's byte limit.
	ErrTooLarge = errors.New("input too large")
	// ErrTooDeep marks JSON nested deeper than MaxDecodeDepth.
	ErrTooDeep = errors.New("input nested too deeply")
	// ErrDuplicateKey marks an object that names the same key twice.
	ErrDuplicateKey = errors.New("duplicate object key")
	// ErrTrailingData marks bytes after the single JSON value.
	ErrTrailingData = errors.New("trailing data after JSON value")
	// ErrInvalidUTF8 marks input that is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
	// ErrSyntax marks input that is not JSON.
	ErrSyntax = errors.New("invalid JSON")
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
