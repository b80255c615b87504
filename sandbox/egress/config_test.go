package egress

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestNewDomains(t *testing.T) {
	tests := []struct {
		domain  string
		want    string // normalised; empty when refused
		message string // part of the refusal an operator must see
	}{
		{"example.com", "example.com", ""},
		{"Example.COM.", "example.com", ""},
		{"bbc.co.uk", "bbc.co.uk", ""},
		{"octocat.github.io", "octocat.github.io", ""},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", ""},
		{"api.example.com", "", `declare "example.com"`},
		{"www.bbc.co.uk", "", `declare "bbc.co.uk"`},
		{"host.docker.internal", "", `declare "docker.internal"`},
		{"co.uk", "", "public suffix"},
		{"github.io", "", "public suffix"},
		{"com", "", "public suffix"},
		{"localhost", "", "public suffix"},
		{"", "", "not a valid domain"},
		{"*.example.com", "", "not a valid domain"},
		{"ex\u0430mple.com", "", "not a valid domain"},
		{"https://example.com", "", "not a valid domain"},
		{"127.0.0.1", "", "IP literal"},
		{"[::1]", "", "IP literal"},
		{"2130706433", "", "IP literal"},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			p, err := New(Config{App: "weather", Domains: []string{tt.domain}})
			if tt.want == "" {
				if err == nil {
					t.Fatalf("New accepted domain %q", tt.domain)
				}
				if !errors.Is(err, ErrDomain) || !strings.Contains(err.Error(), tt.message) {
					t.Errorf("error %q, want ErrDomain mentioning %q", err, tt.message)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if !p.domains[tt.want] || len(p.domains) != 1 {
				t.Errorf("domains %v, want only %q", p.domains, tt.want)
			}
		})
	}
}

func TestNewConfig(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		p, err := New(Config{App: "weather", Domains: []string{"example.com", "EXAMPLE.com"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.domains) != 1 {
			t.Errorf("duplicate domain kept: %v", p.domains)
		}
		if len(p.ports) != 2 || !p.ports[443] || !p.ports[80] {
			t.Errorf("ports %v, want 443 and 80", p.ports)
		}
		if cap(p.slots) != DefaultMaxConnections {
			t.Errorf("max connections %d", cap(p.slots))
		}
		if p.cfg.AllowAddr == nil || p.cfg.AllowAddr(mustAddr("127.0.0.1")) {
			t.Error("default AllowAddr admits loopback")
		}
		if p.cfg.DialTimeout != DefaultDialTimeout || p.cfg.HeaderTimeout != DefaultHeaderTimeout ||
			p.cfg.IdleTimeout != DefaultIdleTimeout {
			t.Errorf("timeouts %v %v %v", p.cfg.DialTimeout, p.cfg.HeaderTimeout, p.cfg.IdleTimeout)
		}
	})
	bad := []struct {
		name string
		cfg  Config
	}{
		{"no app", Config{}},
		{"port 0", Config{App: "a", Ports: []int{0}}},
		{"port too big", Config{App: "a", Ports: []int{65536}}},
		{"negative dial timeout", Config{App: "a", DialTimeout: -time.Second}},
		{"negative header timeout", Config{App: "a", HeaderTimeout: -time.Second}},
		{"negative idle timeout", Config{App: "a", IdleTimeout: -time.Second}},
		{"negative max connections", Config{App: "a", MaxConnections: -1}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("New: %v, want ErrConfig", err)
			}
		})
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
