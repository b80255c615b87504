package ollama

import "errors"

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrStatus reports a non-2xx answer from the server.
	ErrStatus = errors.New("unexpected http status")
	// ErrTooLarge reports a response body above MaxResponseBytes.
	ErrTooLarge = errors.New("response too large")
	// ErrBadResponse reports a body that is not the JSON the chat API defines.
	ErrBadResponse = errors.New("malformed response")
	// ErrBadRequest reports messages or options that cannot be expressed on
	// the wire, found before anything is sent.
	ErrBadRequest = errors.New("cannot encode request")
)
