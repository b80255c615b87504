package egress

import (
	"net/netip"
	"testing"
)

func TestPublicAddr(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		// IPv4 refused.
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"10.0.0.1", false},
		{"10.255.255.255", false},
		{"100.64.0.1", false},
		{"100.100.100.200", false}, // Alibaba metadata
		{"100.127.255.255", false},
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"169.254.0.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.0.0.1", false},
		{"192.0.2.1", false},
		{"192.88.99.1", false},
		{"192.168.1.1", false},
		{"198.18.0.1", false},
		{"198.19.255.255", false},
		{"198.51.100.1", false},
		{"203.0.113.1", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},

		// IPv4 allowed, including the neighbours of refused ranges.
		{"1.1.1.1", true},
		{"8.8.8.8", true},
		{"9.255.255.255", true},
		{"11.0.0.1", true},
		{"100.63.255.255", true},
		{"100.128.0.1", true},
		{"126.255.255.255", true},
		{"128.0.0.1", true},
		{"169.253.255.255", true},
		{"169.255.0.1", true},
		{"172.15.255.255", true},
		{"172.32.0.1", true},
		{"192.167.255.255", true},
		{"192.169.0.1", true},
		{"198.17.255.255", true},
		{"198.20.0.1", true},
		{"223.255.255.255", true},

		// IPv6 refused.
		{"::", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::127.0.0.1", false}, // IPv4-compatible
		{"::8.8.8.8", false},   // IPv4-compatible, deprecated whatever it holds
		{"64:ff9b::7f00:1", false},
		{"64:ff9b::808:808", false},
		{"64:ff9b:1::1", false},
		{"100::1", false},
		{"2001::1", false},             // Teredo
		{"2001:0:4136:e378::1", false}, // Teredo
		{"2001:2::1", false},           // benchmarking
		{"2001:10::1", false},          // ORCHID
		{"2001:db8::1", false},
		{"2002:7f00:1::1", false}, // 6to4 of 127.0.0.1
		{"2002:808:808::1", false},
		{"3fff::1", false},
		{"fc00::1", false},
		{"fd00::1", false},
		{"fd00:ec2::254", false}, // AWS metadata
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"febf::1", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"ff05::1:3", false},

		// IPv6 allowed.
		{"2606:4700:4700::1111", true},
		{"2001:4860:4860::8888", true},
		{"2a00:1450:4001:80b::200e", true},
		{"::ffff:8.8.8.8", true},
		{"2001:200::1", true}, // first real allocation after 2001::/23
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			if got := PublicAddr(a); got != tt.want {
				t.Errorf("PublicAddr(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
	t.Run("zero Addr", func(t *testing.T) {
		if PublicAddr(netip.Addr{}) {
			t.Error("zero Addr allowed")
		}
	})
	t.Run("public address with zone", func(t *testing.T) {
		if PublicAddr(netip.MustParseAddr("2606:4700:4700::1111").WithZone("eth0")) {
			t.Error("zoned address allowed")
		}
	})
}

// TestPublicAddrMappedMatchesV4: every IPv4 address in the table is judged
// the same in its IPv4-mapped form, so ::ffff: never smuggles one through.
func TestPublicAddrMappedMatchesV4(t *testing.T) {
	for _, p := range refusedV4 {
		for _, a := range []netip.Addr{p.Addr(), lastAddr(p)} {
			mapped := netip.AddrFrom16(a.As16())
			t.Run(mapped.String(), func(t *testing.T) {
				if PublicAddr(a) || PublicAddr(mapped) {
					t.Errorf("%s or %s allowed", a, mapped)
				}
			})
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	host := 32 - p.Bits()
	for i := 3; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	return netip.AddrFrom4(b)
}
