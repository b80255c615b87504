package egress

import "errors"

// Sentinels for refusals. The text of each is what an app sees in the body of
// the refusal, so it names the rule and never an internal address; the audit
// Event's Reason carries the wrapped detail.
var (
	// ErrClosed is returned by Serve once Close has been called.
	ErrClosed = errors.New("egress proxy closed")
	// ErrConfig marks a Config that New refuses.
	ErrConfig = errors.New("invalid egress config")
	// ErrDomain marks a declared domain that is not a registrable domain
	// (its own eTLD+1).
	ErrDomain = errors.New("invalid declared domain")

	// ErrBadRequest marks a request that is not a well-formed CONNECT
	// request (400).
	ErrBadRequest = errors.New("malformed CONNECT request")
	// ErrMethod marks any method but CONNECT (405).
	ErrMethod = errors.New("only CONNECT is supported")
	// ErrHeaderTooLarge marks a request header over MaxHeaderBytes (431).
	ErrHeaderTooLarge = errors.New("request header too large")
	// ErrHeaderTimeout marks a request header not finished within
	// HeaderTimeout (408).
	ErrHeaderTimeout = errors.New("request header not received in time")
	// ErrBadHost marks a host that is not a syntactically valid ASCII domain
	// name (400).
	ErrBadHost = errors.New("host is not a valid domain name")
	// ErrIPLiteral marks a host written as an address in any form (403).
	ErrIPLiteral = errors.New("host is an IP literal: apps must name a declared domain")
	// ErrPort marks a port outside Config.Ports (403).
	ErrPort = errors.New("port not allowed")
	// ErrUndeclared marks a host whose eTLD+1 is not in Config.Domains (403).
	ErrUndeclared = errors.New("not a declared domain")
	// ErrNoAddress marks a name that resolves to no address (403).
	ErrNoAddress = errors.New("domain resolves to no address")
	// ErrForbiddenAddr marks a name with at least one resolved address that
	// AllowAddr refuses (403).
	ErrForbiddenAddr = errors.New("domain resolves to a forbidden address")
	// ErrResolve marks a failed lookup (502).
	ErrResolve = errors.New("resolve failed")
	// ErrUpstream marks a failed dial to every resolved address (502).
	ErrUpstream = errors.New("upstream unreachable")
	// ErrTooManyConnections marks a connection over MaxConnections (503).
	ErrTooManyConnections = errors.New("too many connections")
)

// Details wrapped under ErrBadHost.
var (
	errEmptyHost  = errors.New("empty")
	errHostLength = errors.New("longer than 253 bytes")
	errLabel      = errors.New("empty label or label longer than 63 bytes")
	errHostByte   = errors.New("byte outside [a-z0-9_-]")
)
