package egress

import "net/netip"

// refusedV4 lists the IPv4 ranges that are not the public internet: this
// host, its private networks, the cloud metadata service, and addresses
// reserved for documentation, benchmarking or the future.
var refusedV4 = prefixes(
	"0.0.0.0/8",       // "this network"
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // carrier-grade NAT; also Alibaba's metadata 100.100.100.200
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local; cloud metadata 169.254.169.254
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // TEST-NET-1
	"192.88.99.0/24",  // deprecated 6to4 relay anycast
	"192.168.0.0/16",  // private
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // TEST-NET-2
	"203.0.113.0/24",  // TEST-NET-3
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
)

// globalV6 is the only IPv6 space handed out for the public internet;
// everything outside it (::/8 with loopback and the v4-compatible and
// v4-mapped forms, 64:ff9b::/96 NAT64, fc00::/7, fe80::/10, ff00::/8 …) is
// refused without further thought.
var globalV6 = netip.MustParsePrefix("2000::/3")

// refusedV6 lists the parts of 2000::/3 that still are not an ordinary
// public host, chiefly the transition schemes that embed an IPv4 address the
// proxy would otherwise have to decode and check.
var refusedV6 = prefixes(
	"2001::/23",     // IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID
	"2001:db8::/32", // documentation
	"2002::/16",     // 6to4, embeds any IPv4 address
	"3fff::/20",     // documentation (RFC 9637)
)

// explicitV6 names ranges that globalV6 already excludes; they are listed so
// the intent survives any future widening of globalV6.
var explicitV6 = prefixes(
	"::/96",          // IPv4-compatible (deprecated), with :: and ::1
	"::ffff:0:0/96",  // IPv4-mapped; unmapped and checked as IPv4 first
	"64:ff9b::/96",   // NAT64 well-known prefix reaches IPv4 internals
	"64:ff9b:1::/48", // NAT64 local-use
	"100::/64",       // discard-only
	"fc00::/7",       // unique local; AWS metadata fd00:ec2::254
	"fe80::/10",      // link-local
	"fec0::/10",      // deprecated site-local
	"ff00::/8",       // multicast
)

// PublicAddr reports whether a is an address on the public internet that an
// app may reach. It is the default Config.AllowAddr. It refuses loopback,
// unspecified, private, carrier-grade NAT, link-local, multicast, broadcast
// and reserved IPv4 ranges; for IPv6 it admits only global unicast 2000::/3
// minus documentation, Teredo and 6to4; IPv4-mapped forms are judged as the
// IPv4 address they carry. An address with a zone is refused.
func PublicAddr(a netip.Addr) bool {
	if !a.IsValid() || a.Zone() != "" {
		return false
	}
	a = a.Unmap()
	if a.Is4() {
		return !containedIn(refusedV4, a)
	}
	if !globalV6.Contains(a) || containedIn(explicitV6, a) {
		return false
	}
	return !containedIn(refusedV6, a)
}

func containedIn(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}
