// Package egress is the only way out of an app's sandbox: a per-app HTTP
// CONNECT proxy, run by the hub, that opens a TCP tunnel only to a declared
// domain on an allowed port and only when every address the name resolves to
// is public.
//
// A confined worker's network namespace holds nothing but loopback. The hub
// serves one Proxy per worker on a control socket only that worker inherits
// (no socket file exists anywhere: see pass.go); inside the sandbox, Forward
// listens on 127.0.0.1 so the app can use HTTP_PROXY and HTTPS_PROXY as
// usual, and hands each connection to the hub over the control socket. The
// proxy learns which app is speaking from the control socket a connection
// arrived on, never from anything in the request. A Limiter bounds the audit
// events one worker can cause.
//
//	 worker sandbox (netns: lo only)           hub
//	+-------------------------------+      +-----------------------------+
//	| app --HTTPS_PROXY--> Forward  |      | Proxy (one per app)         |
//	|      127.0.0.1:port    |      |      |  parse -> policy -> resolve |
//	|                        +-fd---+-unix-+-> check addrs -> dial IP ----+--> internet
//	|   inherited control socket    |      |  audit (rate-limited)       |
//	+-------------------------------+      +-----------------------------+
//
// One connection is one tunnel:
//
//	app                                     Proxy
//	 |-- CONNECT host:port HTTP/1.1 ... ---->|  header <= MaxHeaderBytes, within HeaderTimeout
//	 |                                       |  1. host is not an IP literal
//	 |                                       |  2. port is in Ports
//	 |                                       |  3. eTLD+1 of host is in Domains (before any DNS)
//	 |                                       |  4. resolve; every address passes AllowAddr
//	 |                                       |  5. dial a resolved IP, never the name again
//	 |<-- 4xx/5xx + reason, close -----------|  Event{Allowed: false, Reason: ...}
//	 |<-- 200 Connection Established --------|  Event{Allowed: true, Reason: ReasonOpened}
//	 |<============ bytes both ways ========>|  until a side closes or IdleTimeout
//	 |                                       |  Event{Allowed: true, Reason: ReasonClosed, Bytes...}
//
// Checking the domain before resolving it keeps DNS lookups for undeclared
// names (DNS exfiltration through evil.com) from ever leaving the hub.
// Dialling the checked address instead of the name closes the window in which
// a second lookup could return an internal address (DNS rebinding).
//
// What this package does not stop: a declared domain covers all of its
// subdomains (declaring github.com admits gist.github.com), the proxy cannot
// see inside TLS (domain fronting through a declared CDN), lookups of
// subdomains of a declared domain reach that domain's name servers, and
// traffic that never comes to the proxy (UDP, raw sockets) must be stopped
// by the sandbox's network namespace and seccomp policy.
package egress
