package egress

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
)

// MaxHeaderBytes caps the request line and headers of a CONNECT request,
// counted together, line endings included.
const MaxHeaderBytes = 8 << 10

// request is a parsed CONNECT request. host is set only when the request was
// accepted; rawHost, clipped for the audit log, whenever a target was read.
type request struct {
	host    string
	port    int
	rawHost string
}

// readRequest reads one CONNECT request head from r, reading no more than
// MaxHeaderBytes from it. rest holds bytes the client sent after the head
// (the start of a TLS handshake, typically) that belong to the tunnel.
// Header fields are read and ignored: the target alone decides, and the app
// is identified by its socket, not by anything it writes.
func readRequest(r io.Reader) (req request, rest []byte, err error) {
	lr := &io.LimitedReader{R: r, N: MaxHeaderBytes}
	br := bufio.NewReaderSize(lr, MaxHeaderBytes)
	readLine := func() (string, error) {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			return "", fmt.Errorf("%w: %w", ErrHeaderTimeout, err)
		case errors.Is(err, bufio.ErrBufferFull), errors.Is(err, io.EOF) && lr.N <= 0:
			return "", ErrHeaderTooLarge
		case errors.Is(err, io.EOF):
			return "", fmt.Errorf("%w: connection closed inside the header", ErrBadRequest)
		default:
			return "", fmt.Errorf("%w: read: %w", ErrBadRequest, err)
		}
		line = bytes.TrimSuffix(line, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		return string(line), nil
	}

	first, err := readLine()
	if err != nil {
		return req, nil, err
	}
	for {
		field, err := readLine()
		if err != nil {
			return req, nil, err
		}
		if field == "" {
			break
		}
	}
	if n := br.Buffered(); n > 0 {
		rest, _ = br.Peek(n)
		rest = bytes.Clone(rest)
	}
	req, err = parseRequestLine(first)
	return req, rest, err
}

// parseRequestLine parses "CONNECT host:port HTTP/1.1" (or HTTP/1.0).
func parseRequestLine(line string) (request, error) {
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < 0x20 || c == 0x7f {
			return request{}, fmt.Errorf("%w: control byte in request line", ErrBadRequest)
		}
	}
	method, rest, ok := strings.Cut(line, " ")
	if !ok {
		return request{}, fmt.Errorf("%w: no target", ErrBadRequest)
	}
	if method != "CONNECT" {
		return request{}, fmt.Errorf("%w: method %q", ErrMethod, clip(method))
	}
	target, version, ok := strings.Cut(rest, " ")
	if !ok || strings.Contains(version, " ") {
		return request{}, fmt.Errorf("%w: want CONNECT host:port HTTP/1.1", ErrBadRequest)
	}
	if version != "HTTP/1.1" && version != "HTTP/1.0" {
		return request{}, fmt.Errorf("%w: version %q", ErrBadRequest, clip(version))
	}
	return parseAuthority(target)
}

// parseAuthority splits the authority-form target host:port, normalises the
// host and refuses it if it is an address in any spelling.
func parseAuthority(target string) (request, error) {
	i := strings.LastIndexByte(target, ':')
	if i < 0 {
		return request{rawHost: clip(target)}, fmt.Errorf("%w: target has no port", ErrBadRequest)
	}
	rawHost, rawPort := target[:i], target[i+1:]
	req := request{rawHost: clip(rawHost)}
	port, ok := parsePort(rawPort)
	if !ok {
		return req, fmt.Errorf("%w: port %q", ErrBadRequest, clip(rawPort))
	}
	req.port = port
	host, err := normaliseHost(rawHost)
	if err != nil {
		return req, err
	}
	req.host = host
	return req, nil
}

// parsePort accepts 1–65535 in plain decimal: no sign, no leading zero.
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 || s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= 65535
}

// normaliseHost lower-cases an ASCII host and drops one trailing dot. It
// refuses IP literals first, so that "[::1]" is reported as an address and
// not as bad syntax, and then anything that is not letters, digits, hyphens
// and underscores in dot-separated labels. Non-ASCII is refused before
// lower-casing: Unicode case folding maps U+212A KELVIN SIGN to "k", which
// would let a lookalike become a declared name.
func normaliseHost(raw string) (string, error) {
	for i := 0; i < len(raw); i++ {
		if raw[i] >= 0x80 {
			return "", fmt.Errorf("%w: non-ASCII host %q (use its xn-- form)", ErrBadHost, clip(raw))
		}
	}
	h := asciiLower(raw)
	// URL punctuation first, so "http://host" or "user@host" is reported as
	// a malformed host rather than as an IPv6 literal because of its colon.
	if strings.ContainsAny(h, "/@?#\\") {
		return "", fmt.Errorf("%w: %q: %w", ErrBadHost, clip(raw), errHostByte)
	}
	if isIPLiteral(h) {
		return "", fmt.Errorf("%w: %q", ErrIPLiteral, clip(raw))
	}
	h = strings.TrimSuffix(h, ".")
	if err := checkHostname(h); err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrBadHost, clip(raw), err)
	}
	return h, nil
}

// checkHostname checks a lower-case host without trailing dot.
func checkHostname(h string) error {
	if h == "" {
		return errEmptyHost
	}
	if len(h) > 253 {
		return errHostLength
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return errLabel
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return errHostByte
			}
		}
	}
	return nil
}

// isIPLiteral reports whether h, already lower-case, names an address rather
// than a domain in any form a resolver or URL parser might accept: anything
// net/netip parses, anything with a colon or bracket (IPv6, with or without
// zone), and — following the WHATWG URL rule "ends in a number" — any host
// whose last label is all decimal digits or 0x-prefixed hex. The last rule
// covers every inet_aton spelling (2130706433, 0x7f.1, 017700000001, 127.1),
// since inet_aton needs every part numeric, and no real top-level domain is
// numeric.
func isIPLiteral(h string) bool {
	if h == "" {
		return false
	}
	if strings.ContainsAny(h, ":[]") {
		return true
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	h = strings.TrimSuffix(h, ".")
	last := h[strings.LastIndexByte(h, '.')+1:]
	return isNumericLabel(last)
}

func isNumericLabel(s string) bool {
	digits := "0123456789"
	if hex, ok := strings.CutPrefix(s, "0x"); ok {
		s, digits = hex, "0123456789abcdef"
		if s == "" {
			return true // inet_aton and WHATWG both read a bare "0x" as zero
		}
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(digits, s[i]) < 0 {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// clip makes an app-supplied string fit for an audit record: at most 255
// bytes, with control and non-ASCII bytes replaced.
func clip(s string) string {
	const max = 255
	if len(s) > max {
		s = s[:max]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f {
			return '?'
		}
		return r
	}, s)
}
