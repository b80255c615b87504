package egress

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/net/publicsuffix"
)

// Defaults for the zero values of Config.
const (
	DefaultDialTimeout    = 10 * time.Second
	DefaultHeaderTimeout  = 10 * time.Second
	DefaultIdleTimeout    = 5 * time.Minute
	DefaultMaxConnections = 64
)

// DefaultPorts are the ports an app may reach when Config.Ports is empty.
var DefaultPorts = []int{443, 80}

// Reasons carried by the Events of an allowed tunnel; a refused attempt
// carries the refusal's error text instead.
const (
	ReasonOpened = "tunnel opened"
	ReasonClosed = "tunnel closed"
)

// Resolver looks up the addresses of a host; net.DefaultResolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Event is one audit record. Every connection produces exactly one Event
// with Allowed false when it is refused, or two Events with Allowed true when
// a tunnel is opened: one with Reason ReasonOpened as the tunnel starts and,
// when it ends, one with Reason ReasonClosed and the byte counts.
type Event struct {
	// App is the Config.App of the proxy the connection arrived on.
	App string
	// Host is the requested host, lower-cased once it has been accepted;
	// for a refused request it is the host as sent, clipped and with
	// control bytes replaced. Empty when no target was read.
	Host string
	// Port is the requested port, 0 when none was read.
	Port int
	// Addr is the address dialled ("ip:port") for an allowed tunnel, or
	// the resolved address that AllowAddr refused.
	Addr    string
	Allowed bool
	// Reason is ReasonOpened, ReasonClosed, or why the attempt was refused
	// (an error text that wraps one of this package's sentinels).
	Reason string
	At     time.Time
	// BytesUp counts bytes from app to upstream, BytesDown the other way;
	// both are set only on the ReasonClosed Event (and summed in a
	// summary).
	BytesUp, BytesDown int64
	// Suppressed, in a Limiter's summary Event, counts the Events it held
	// back; Host, Port and Addr are then the last one's.
	Suppressed int
}

// Config is the egress policy and plumbing for one app.
type Config struct {
	// App names the app whose sandbox the proxy's socket is mounted into.
	App string
	// Domains are the registrable domains (eTLD+1) the app may reach,
	// with all their subdomains. Empty refuses everything.
	Domains []string
	// Resolver defaults to net.DefaultResolver.
	Resolver Resolver
	// Dialer opens upstream connections; it is always given an IP:port,
	// never a name. Defaults to a net.Dialer.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// AllowAddr decides whether a resolved address may be reached.
	// Defaults to PublicAddr.
	AllowAddr func(netip.Addr) bool
	// Ports the app may reach; defaults to DefaultPorts.
	Ports []int
	// Audit receives every Event, from the connection's own goroutine: it
	// must be safe for concurrent use and should not block.
	Audit func(Event)
	// Logger defaults to discarding.
	Logger *slog.Logger
	// DialTimeout bounds resolving and dialling together.
	DialTimeout time.Duration
	// HeaderTimeout bounds reading the CONNECT request head, against
	// clients that never finish it.
	HeaderTimeout time.Duration
	// IdleTimeout closes a tunnel after this long with no byte either way.
	IdleTimeout time.Duration
	// MaxConnections caps connections in progress, tunnels included;
	// connections over it are answered 503.
	MaxConnections int
}

// withDefaults validates cfg and fills in its zero values.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.App == "" {
		return cfg, fmt.Errorf("%w: empty app name", ErrConfig)
	}
	domains := make([]string, 0, len(cfg.Domains))
	for _, d := range cfg.Domains {
		n, err := normaliseDomain(d)
		if err != nil {
			return cfg, err
		}
		if !slices.Contains(domains, n) {
			domains = append(domains, n)
		}
	}
	cfg.Domains = domains

	if len(cfg.Ports) == 0 {
		cfg.Ports = DefaultPorts
	}
	ports := make([]int, 0, len(cfg.Ports))
	for _, p := range cfg.Ports {
		if p < 1 || p > 65535 {
			return cfg, fmt.Errorf("%w: port %d out of range", ErrConfig, p)
		}
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	cfg.Ports = ports

	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Dialer == nil {
		cfg.Dialer = (&net.Dialer{}).DialContext
	}
	if cfg.AllowAddr == nil {
		cfg.AllowAddr = PublicAddr
	}
	if cfg.Audit == nil {
		cfg.Audit = func(Event) {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"dial timeout", &cfg.DialTimeout, DefaultDialTimeout},
		{"header timeout", &cfg.HeaderTimeout, DefaultHeaderTimeout},
		{"idle timeout", &cfg.IdleTimeout, DefaultIdleTimeout},
	} {
		if *d.v < 0 {
			return cfg, fmt.Errorf("%w: negative %s", ErrConfig, d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.MaxConnections < 0 {
		return cfg, fmt.Errorf("%w: negative max connections", ErrConfig)
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	return cfg, nil
}

// normaliseDomain lower-cases a declared domain, drops one trailing dot, and
// insists that it is its own eTLD+1: a declaration names a whole registrable
// domain, so a narrower name would promise a restriction the proxy does not
// make, and a public suffix would admit every one of its registrants.
func normaliseDomain(d string) (string, error) {
	h, err := normaliseHost(d)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrDomain, err)
	}
	e, err := publicsuffix.EffectiveTLDPlusOne(h)
	if err != nil {
		return "", fmt.Errorf("%w: %q is a public suffix, not a registrable domain", ErrDomain, d)
	}
	if e != h {
		return "", fmt.Errorf("%w: %q is not a registrable domain: declare %q, which admits its subdomains", ErrDomain, d, e)
	}
	return h, nil
}
