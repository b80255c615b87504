package specs

import "errors"

var (
	// ErrInvalidManifest marks a manifest that Parse refuses.
	ErrInvalidManifest = errors.New("invalid manifest")
	// ErrTooLarge marks a manifest over MaxManifestBytes.
	ErrTooLarge = errors.New("manifest too large")
	// ErrUnknownApp marks an id with no built-in manifest.
	ErrUnknownApp = errors.New("unknown app")
)
