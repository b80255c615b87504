package egress

import (
	"errors"
	"strings"
	"testing"
)

func TestIsIPLiteral(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.0.0.1.", true},
		{"2130706433", true},
		{"0x7f000001", true},
		{"0x7f.1", true},
		{"0x7f.0x0.0x0.0x1", true},
		{"017700000001", true},
		{"0177.0.0.1", true},
		{"127.1", true},
		{"1.2.3.256", true}, // not a valid address, but numeric: refuse, do not resolve
		{"0x", true},
		{"example.0x1f", true},
		{"example.123", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"fe80::1%eth0", true},
		{"[::1]", true},
		{"example.com", false},
		{"123.example.com", false},
		{"0x7f.example.com", false},
		{"1e100.net", false},
		{"cafe.be", false},
		{"deadbeef", false},
		{"0xg", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if got := isIPLiteral(tt.host); got != tt.want {
				t.Errorf("isIPLiteral(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
}

func TestParseAuthority(t *testing.T) {
	tests := []struct {
		target   string
		wantHost string
		wantPort int
		err      error
	}{
		{"example.com:443", "example.com", 443, nil},
		{"API.Example.COM.:80", "api.example.com", 80, nil},
		{"a_b.example.com:443", "a_b.example.com", 443, nil},
		{"xn--bcher-kva.example:443", "xn--bcher-kva.example", 443, nil},
		{"example.com:65535", "example.com", 65535, nil},
		{"example.com:1", "example.com", 1, nil},
		{"example.com", "", 0, ErrBadRequest},
		{"example.com:", "", 0, ErrBadRequest},
		{"example.com:0", "", 0, ErrBadRequest},
		{"example.com:065535", "", 0, ErrBadRequest},
		{"example.com:65536", "", 0, ErrBadRequest},
		{"example.com:4 43", "", 0, ErrBadRequest},
		{"example.com:-443", "", 0, ErrBadRequest},
		{"example.com..:443", "", 0, ErrBadHost},
		{".example.com:443", "", 0, ErrBadHost},
		{"exa mple.com:443", "", 0, ErrBadHost},
		{"example.com\\.evil.net:443", "", 0, ErrBadHost},
		{strings.Repeat("a", 64) + ".com:443", "", 0, ErrBadHost},
		{strings.Repeat("a.", 127) + "com:443", "", 0, ErrBadHost},
		{"[::1]:443", "", 0, ErrIPLiteral},
		{"[example.com]:443", "", 0, ErrIPLiteral},
		{"0x7F.1:443", "", 0, ErrIPLiteral},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			req, err := parseAuthority(tt.target)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("parseAuthority(%q) error %v, want %v", tt.target, err, tt.err)
				}
				if req.host != "" {
					t.Errorf("refused target left host %q", req.host)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseAuthority(%q): %v", tt.target, err)
			}
			if req.host != tt.wantHost || req.port != tt.wantPort {
				t.Errorf("got %q %d, want %q %d", req.host, req.port, tt.wantHost, tt.wantPort)
			}
		})
	}
}

func TestReadRequest(t *testing.T) {
	line := "CONNECT example.com:443 HTTP/1.1\r\n"
	tests := []struct {
		name     string
		in       string
		wantRest string
		err      error
	}{
		{"minimal", line + "\r\n", "", nil},
		{"HTTP/1.0", "CONNECT example.com:443 HTTP/1.0\r\n\r\n", "", nil},
		{"bare LF", "CONNECT example.com:443 HTTP/1.1\nHost: x\n\n", "", nil},
		{"headers ignored", line + "Host: evil.net:443\r\nX-App: other\r\n\r\n", "", nil},
		{"early tunnel bytes", line + "\r\n\x16\x03\x01rest", "\x16\x03\x01rest", nil},
		{"head exactly at the cap", line + "X: " + strings.Repeat("a", MaxHeaderBytes-len(line)-7) + "\r\n\r\n", "", nil},
		{"head one byte over", line + "X: " + strings.Repeat("a", MaxHeaderBytes-len(line)-6) + "\r\n\r\n", "", ErrHeaderTooLarge},
		{"one long line", "CONNECT " + strings.Repeat("a", 2*MaxHeaderBytes), "", ErrHeaderTooLarge},
		{"empty", "", "", ErrBadRequest},
		{"no blank line", line, "", ErrBadRequest},
		{"blank first line", "\r\n" + line + "\r\n", "", ErrBadRequest},
		{"double space", "CONNECT  example.com:443 HTTP/1.1\r\n\r\n", "", ErrBadRequest},
		{"tab", "CONNECT\texample.com:443 HTTP/1.1\r\n\r\n", "", ErrBadRequest},
		{"CR inside line", "CONNECT example.com:443\rHTTP/1.1\r\n\r\n", "", ErrBadRequest},
		{"no version", "CONNECT example.com:443\r\n\r\n", "", ErrBadRequest},
		{"POST", "POST / HTTP/1.1\r\n\r\n", "", ErrMethod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, rest, err := readRequest(strings.NewReader(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if tt.err != nil {
				return
			}
			if req.host != "example.com" || req.port != 443 {
				t.Errorf("got %q %d", req.host, req.port)
			}
			if string(rest) != tt.wantRest {
				t.Errorf("rest %q, want %q", rest, tt.wantRest)
			}
		})
	}
}
