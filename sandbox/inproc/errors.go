package inproc

import "errors"

var (
	// ErrNotRunnable marks an app that has a manifest but no code to run: a
	// prompt app, or a builtin manifest without a factory.
	ErrNotRunnable = errors.New("app has no code to run")
	// ErrUnknownTool marks a call to a function the manifest does not
	// declare; it never reaches the app.
	ErrUnknownTool = errors.New("tool not declared in the manifest")
	// ErrBadDataDir marks a data folder that is not a plain directory.
	ErrBadDataDir = errors.New("bad data folder")
	// ErrAppPanicked marks a call during which the app panicked.
	ErrAppPanicked = errors.New("app panicked")
)
