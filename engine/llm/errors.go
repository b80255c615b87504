package llm

import "errors"

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrBadSpec reports an --llm value that names no known provider and model.
	ErrBadSpec = errors.New("bad --llm value")
	// ErrMissingKey reports a provider whose API key is not in the environment.
	ErrMissingKey = errors.New("missing API key")
	// ErrBadBaseURL reports a *_BASE_URL that is not an http(s) URL.
	ErrBadBaseURL = errors.New("bad base URL")
	// ErrResponseTooLarge reports a provider answer above maxResponseBytes.
	ErrResponseTooLarge = errors.New("response too large")
)
