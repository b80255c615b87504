package egress

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseConnect feeds arbitrary bytes to the request parser. It must
// never panic, never read past MaxHeaderBytes, and any host it accepts must
// be a lower-case ASCII domain name that no address parser would read as an
// address: the checks here are written independently of isIPLiteral.
func FuzzParseConnect(f *testing.F) {
	for _, s := range []string{
		"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
		"CONNECT API.Example.COM.:443 HTTP/1.1\r\nHost: x\r\n\r\nearly",
		"CONNECT 127.0.0.1:443 HTTP/1.1\r\n\r\n",
		"CONNECT [::ffff:127.0.0.1]:443 HTTP/1.1\r\n\r\n",
		"CONNECT 0x7f.1:443 HTTP/1.1\r\n\r\n",
		"CONNECT 2130706433:443 HTTP/1.1\r\n\r\n",
		"CONNECT 017700000001:443 HTTP/1.0\n\n",
		"CONNECT example.com.123:443 HTTP/1.1\r\n\r\n",
		"CONNECT \u212Aexample.com:443 HTTP/1.1\r\n\r\n",
		"CONNECT a@b.c:443 HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"CONNECT example.com:0443 HTTP/1.1\r\n\r\n",
		"CONNECT example.com: HTTP/1.1\r\n\r\n",
		"CONNECT " + strings.Repeat("a.", 200) + "com:443 HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &countingReader{r: bytes.NewReader(data)}
		req, rest, err := readRequest(r)
		if r.n > MaxHeaderBytes {
			t.Fatalf("read %d bytes, cap is %d", r.n, MaxHeaderBytes)
		}
		if len(rest) > len(data) {
			t.Fatalf("rest longer than input")
		}
		if err != nil {
			if req.host != "" {
				t.Fatalf("refused request kept host %q: %v", req.host, err)
			}
			return
		}
		h := req.host
		if req.port < 1 || req.port > 65535 {
			t.Fatalf("port %d accepted", req.port)
		}
		if h == "" || len(h) > 253 || strings.HasSuffix(h, ".") || strings.HasPrefix(h, ".") || strings.Contains(h, "..") {
			t.Fatalf("host %q accepted", h)
		}
		for _, c := range []byte(h) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				t.Fatalf("host %q has byte %q", h, c)
			}
		}
		if _, err := netip.ParseAddr(h); err == nil {
			t.Fatalf("host %q is an address", h)
		}
		if net.ParseIP(h) != nil {
			t.Fatalf("host %q is an address to net.ParseIP", h)
		}
		// inet_aton needs every dot-separated part numeric; a host whose
		// last label has a letter outside a 0x prefix can never be one.
		last := h[strings.LastIndexByte(h, '.')+1:]
		hex, isHex := strings.CutPrefix(last, "0x")
		numeric := strings.Trim(last, "0123456789") == ""
		if isHex {
			numeric = strings.Trim(hex, "0123456789abcdef") == ""
		}
		if numeric {
			t.Fatalf("host %q ends in a number", h)
		}
		if !bytes.Contains(data, []byte(":"+strconv.Itoa(req.port))) {
			t.Fatalf("port %d not in input", req.port)
		}
	})
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
