package specs

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/isolategpt/isolategpt/specs/schema"
)

// checkTool checks the server's name for the function, which defaults to
// its name: an MCP tool name (1 to 128 of A-Z a-z 0-9 _ - . /), and only
// for an mcp app.
func (f *Function) checkTool(kind string) error {
	if f.Tool == "" {
		f.Tool = f.Name
		return nil
	}
	if kind != KindMCP {
		return fmt.Errorf("%s: only an mcp app's functions name a tool", f.Name)
	}
	if !ValidToolName(f.Tool) {
		return fmt.Errorf("%s: tool %s must be 1 to %d of A-Z a-z 0-9 _ - . /", f.Name, short(f.Tool), MaxToolName)
	}
	return nil
}

// MaxToolName bounds a server's tool name.
const MaxToolName = 128

// ValidToolName reports whether s is a tool name a manifest may record.
func ValidToolName(s string) bool {
	return s != "" && len(s) <= MaxToolName && onlyOf(s, "_-./")
}

// MaxAliases bounds a function's aliases.
const MaxAliases = 512

// checkAliases checks each alias is an identifier and each real name is
// a property name of bounded, safe text.
func checkAliases(a map[string]string) error {
	if len(a) > MaxAliases {
		return fmt.Errorf("%d aliases, limit %d", len(a), MaxAliases)
	}
	for _, r := range slices.Sorted(maps.Keys(a)) {
		if r == "" || len(r) > MaxToolName || !schema.SafeText(r) || strings.ContainsAny(r, "\t\n") {
			return fmt.Errorf("name %s is not a property name a manifest records", short(r))
		}
		if r == a[r] {
			return fmt.Errorf("%s is its own alias", short(r))
		}
		if !schema.ValidName(a[r]) {
			return fmt.Errorf("alias %s of %s must match %s", short(a[r]), short(r), schema.NamePattern)
		}
	}
	return nil
}

// validID checks an app id or function name; "__" is reserved because the
// hub joins app and function with it.
func validID(s string) bool {
	return schema.ValidName(s) && !strings.Contains(s, "__")
}

func validVersion(s string) bool {
	return len(s) > 0 && len(s) <= MaxVersion && isAlnum(s[0]) && onlyOf(s, ".+-")
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// onlyOf reports whether every byte of s is an ASCII letter or digit or
// one of extra.
func onlyOf(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && !strings.ContainsRune(extra, rune(s[i])) {
			return false
		}
	}
	return true
}

func checkText(s string, limit int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return fmt.Errorf("missing")
	}
	if n := utf8.RuneCountInString(s); n > limit {
		return fmt.Errorf("%d characters, limit %d", n, limit)
	}
	if !schema.SafeText(s) {
		return fmt.Errorf("control or bidirectional formatting characters")
	}
	return nil
}

// checkDomains returns the domains sorted, each a lower-case DNS name of at
// least two labels; the egress proxy decides what they admit.
func checkDomains(ds []string) ([]string, error) {
	if len(ds) > MaxDomains {
		return nil, fmt.Errorf("%d domains, limit %d", len(ds), MaxDomains)
	}
	out := slices.Clone(ds)
	slices.Sort(out)
	for i, d := range out {
		if !validDomain(d) {
			return nil, fmt.Errorf("domain %s must be a lower-case DNS name such as example.com", short(d))
		}
		if i > 0 && out[i-1] == d {
			return nil, fmt.Errorf("domain %q listed twice", d)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	// The top label is never numeric, so an IP address is not a domain.
	top := labels[len(labels)-1]
	return strings.Trim(top, "0123456789") != ""
}
