package specs

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// KindMCP is an external MCP server: a program the hub runs in a worker
// sandbox (the external-program profile) and speaks MCP to over its stdio.
const KindMCP = "mcp"

// Placeholders an MCP command, argument or environment value may start
// with. They are the only expansion there is: the hub replaces them when it
// starts the server, with folders it chose.
const (
	// PlaceholderInstall is the folder the manifest was installed from
	// (read-only for the server): where its code lives.
	PlaceholderInstall = "${install}"
	// PlaceholderData is the app's own data folder for the user (the only
	// folder the server may write).
	PlaceholderData = "${data}"
)

// Limits on an MCP section.
const (
	MaxArgs      = 64
	MaxArgBytes  = 4096
	MaxEnv       = 32
	MaxEnvName   = 64
	MaxEnvValue  = 4096
	MaxEnvAllow  = 32
	maxMCPString = MaxArgBytes
)

// MCP says how to start an MCP app's server. Function names in the
// manifest are the names of the server's tools.
type MCP struct {
	// Command is the program: an absolute path, a path under
	// PlaceholderInstall, or a bare name the sandbox looks up on its PATH.
	Command string
	Args    []string
	// Env are variables the manifest sets, by name; values may start with
	// a placeholder.
	Env map[string]string
	// EnvAllow names variables whose values are copied from the hub's own
	// environment when set there, sorted. Nothing else from the hub's
	// environment reaches the server.
	EnvAllow []string
	// Timeout is the wall-clock limit of one call, in seconds; 0 means
	// the hub's default.
	Timeout int
	// NoRoots withholds MCP roots from the server; by default the hub
	// offers one root, the app's own folder (sandbox.DataPath).
	NoRoots bool
}

// MaxTimeout bounds an MCP app's call time limit, in seconds.
const MaxTimeout = 3600

var mcpKeys = []string{"command", "args", "env", "env_allow", "timeout", "roots"}

// canonMCP is the mcp section as JSON: what Parse decodes, and its
// canonical encoding (every field present, env as an object, whose keys
// encoding/json sorts, env_allow sorted).
type canonMCP struct {
	Command  string            `json:"command"`
	Args     []string          `json:"args"`
	Env      map[string]string `json:"env"`
	EnvAllow []string          `json:"env_allow"`
	// Omitted at their defaults, so older manifests keep their pin.
	Timeout int   `json:"timeout,omitempty"`
	Roots   *bool `json:"roots,omitempty"`
}

func (c *MCP) canon() *canonMCP {
	if c == nil {
		return nil
	}
	out := &canonMCP{Command: c.Command, Args: slices.Clone(c.Args), Env: maps.Clone(c.Env), EnvAllow: slices.Sorted(slices.Values(c.EnvAllow)), Timeout: c.Timeout}
	if c.NoRoots {
		no := false
		out.Roots = &no
	}
	if out.Args == nil {
		out.Args = []string{}
	}
	if out.Env == nil {
		out.Env = map[string]string{}
	}
	if out.EnvAllow == nil {
		out.EnvAllow = []string{}
	}
	return out
}

// checkMCPKeys refuses keys of the mcp object that differ from the known
// ones, in case included, as checkKeys does for the manifest.
func checkMCPKeys(v any) error {
	if v == nil {
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return invalid("mcp must be an object")
	}
	for k := range obj {
		if !slices.Contains(mcpKeys, k) {
			return invalid("mcp: unknown field %s", short(k))
		}
	}
	return nil
}

func buildMCP(raw *canonMCP) (*MCP, error) {
	if raw == nil {
		return nil, fmt.Errorf("an mcp app needs an mcp section with its command")
	}
	if err := checkCommand(raw.Command); err != nil {
		return nil, fmt.Errorf("command: %w", err)
	}
	if len(raw.Args) > MaxArgs {
		return nil, fmt.Errorf("%d args, limit %d", len(raw.Args), MaxArgs)
	}
	for i, a := range raw.Args {
		if err := checkMCPString(a, false); err != nil {
			return nil, fmt.Errorf("arg %d: %w", i, err)
		}
	}
	if len(raw.Env) > MaxEnv {
		return nil, fmt.Errorf("%d env variables, limit %d", len(raw.Env), MaxEnv)
	}
	for _, name := range slices.Sorted(maps.Keys(raw.Env)) {
		if err := checkEnvName(name); err != nil {
			return nil, fmt.Errorf("env: %w", err)
		}
		if len(raw.Env[name]) > MaxEnvValue {
			return nil, fmt.Errorf("env %s: value longer than %d bytes", name, MaxEnvValue)
		}
		if err := checkMCPString(raw.Env[name], true); err != nil {
			return nil, fmt.Errorf("env %s: %w", name, err)
		}
	}
	if len(raw.EnvAllow) > MaxEnvAllow {
		return nil, fmt.Errorf("%d env_allow names, limit %d", len(raw.EnvAllow), MaxEnvAllow)
	}
	allow := slices.Sorted(slices.Values(raw.EnvAllow))
	for i, name := range allow {
		if err := checkEnvName(name); err != nil {
			return nil, fmt.Errorf("env_allow: %w", err)
		}
		if i > 0 && allow[i-1] == name {
			return nil, fmt.Errorf("env_allow: %s listed twice", name)
		}
		if _, set := raw.Env[name]; set {
			return nil, fmt.Errorf("env_allow: %s is also set in env", name)
		}
	}
	if allow == nil {
		allow = []string{}
	}
	env := maps.Clone(raw.Env)
	if env == nil {
		env = map[string]string{}
	}
	args := slices.Clone(raw.Args)
	if args == nil {
		args = []string{}
	}
	if raw.Timeout < 0 || raw.Timeout > MaxTimeout {
		return nil, fmt.Errorf("timeout %d must be 1 to %d seconds, or absent", raw.Timeout, MaxTimeout)
	}
	if raw.Roots != nil && *raw.Roots {
		return nil, fmt.Errorf("roots: true is the default; write false or nothing")
	}
	return &MCP{Command: raw.Command, Args: args, Env: env, EnvAllow: allow, Timeout: raw.Timeout, NoRoots: raw.Roots != nil}, nil
}

// checkCommand accepts an absolute path, a path under ${install}, or a bare
// program name; never a relative path, whose meaning would depend on the
// worker's working folder.
func checkCommand(c string) error {
	if c == "" {
		return fmt.Errorf("missing")
	}
	if err := checkMCPString(c, false); err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(c, PlaceholderInstall+"/"):
		return nil
	case strings.HasPrefix(c, "$"):
		return fmt.Errorf("%s: only %s may start a command", short(c), PlaceholderInstall)
	case strings.HasPrefix(c, "/"):
		return nil
	case strings.Contains(c, "/"):
		return fmt.Errorf("%s is a relative path: give an absolute path, %s/…, or a bare program name", short(c), PlaceholderInstall)
	}
	if !onlyOf(c, "._+-") {
		return fmt.Errorf("program name %s may hold only 0-9 A-Z a-z . _ + -", short(c))
	}
	if c == "." || c == ".." {
		return fmt.Errorf("program name %s", short(c))
	}
	return nil
}

// checkMCPString checks an argument or env value: safe text of bounded
// size, "${" only as one of the placeholders at its very start followed by
// "/" or the end, and no ".." segment after a placeholder (it would climb
// out of the folder the placeholder names).
func checkMCPString(s string, empty bool) error {
	if !empty && s == "" {
		return fmt.Errorf("empty")
	}
	if len(s) > maxMCPString {
		return fmt.Errorf("longer than %d bytes", maxMCPString)
	}
	if err := checkText(s, maxMCPString, false); err != nil {
		return err
	}
	rest := s
	for _, p := range []string{PlaceholderInstall, PlaceholderData} {
		if !strings.HasPrefix(s, p) {
			continue
		}
		rest = s[len(p):]
		if rest == "" {
			break
		}
		if rest[0] != '/' {
			return fmt.Errorf("%s: a placeholder is followed by \"/\" or nothing", short(s))
		}
		for _, seg := range strings.Split(rest[1:], "/") {
			if seg == "" || seg == "." || seg == ".." {
				return fmt.Errorf("%s: no \"..\", \".\" or empty segment after a placeholder", short(s))
			}
		}
		break
	}
	if strings.Contains(rest, "${") {
		return fmt.Errorf("%s: \"${\" is only allowed as %s or %s at the start", short(s), PlaceholderInstall, PlaceholderData)
	}
	return nil
}

// Environment variables no manifest may set or import. The sandbox sets
// the first group itself; the second changes what code a program loads or
// how its interpreter starts, which is not the manifest's to choose behind
// the command it shows; the third are the hub's own secrets and settings.
var (
	reservedEnv = []string{"HOME", "TMPDIR", "PATH", "PWD", "OLDPWD", "USER", "LOGNAME", "SHELL",
		"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY"}
	injectionEnv = []string{"NODE_OPTIONS", "NODE_PATH", "NODE_REPL_EXTERNAL_MODULE", "NODE_EXTRA_CA_CERTS",
		"BASH_ENV", "ENV", "IFS", "CDPATH", "PS4", "PROMPT_COMMAND", "GCONV_PATH", "GLIBC_TUNABLES",
		"HOSTALIASES", "LOCALDOMAIN", "RES_OPTIONS", "NLSPATH", "TZDIR", "LOCPATH", "SSL_CERT_FILE", "SSL_CERT_DIR",
		"RUBYOPT", "RUBYLIB", "PERLLIB", "PERL5LIB", "PERL5OPT", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
		"CLASSPATH", "GOFLAGS", "GODEBUG", "NPM_CONFIG_PREFIX", "DENO_DIR", "BUN_OPTIONS"}
	dangerousPrefixes = []string{"LD_", "DYLD_", "MALLOC_", "PYTHON", "NODE_", "NPM_CONFIG_", "GIT_",
		"ISOLATEGPT", "OPENAI_", "ANTHROPIC_", "OLLAMA_"}
)

// toolEnv are variables of well-known tools that start with a refused
// prefix but only name who you are or keep a tool away from the host's
// configuration: a manifest may set them (a curated list; the rest of
// GIT_* runs programs, moves the repository or reads other config).
var toolEnv = []string{
	"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
	"GIT_COMMITTER_DATE", "GIT_CONFIG_NOSYSTEM", "GIT_TERMINAL_PROMPT", "GIT_OPTIONAL_LOCKS", "GIT_DEFAULT_HASH",
}

// ToolEnv lists the variables with a refused prefix that a manifest may
// still set (GIT_AUTHOR_NAME and the like).
func ToolEnv() []string { return slices.Clone(toolEnv) }

// checkEnvName accepts an upper-case variable name that is neither
// reserved nor dangerous.
func checkEnvName(name string) error {
	if name == "" || len(name) > MaxEnvName || !(name[0] >= 'A' && name[0] <= 'Z') {
		return fmt.Errorf("name %s must be 1 to %d of A-Z 0-9 _ starting with a letter", short(name), MaxEnvName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("name %s must be 1 to %d of A-Z 0-9 _ starting with a letter", short(name), MaxEnvName)
		}
	}
	if slices.Contains(reservedEnv, name) {
		return fmt.Errorf("%s is set by the sandbox", name)
	}
	if slices.Contains(injectionEnv, name) {
		return fmt.Errorf("%s changes how a program loads code and is never passed to an app", name)
	}
	if slices.Contains(toolEnv, name) {
		return nil
	}
	for _, p := range dangerousPrefixes {
		if strings.HasPrefix(name, p) {
			return fmt.Errorf("%s: variables starting with %s are never passed to an app", name, p)
		}
	}
	return nil
}

// Expand replaces a leading placeholder in s with its folder. Parse has
// checked that s has at most one placeholder, at its start.
func Expand(s, installDir, dataDir string) string {
	switch {
	case strings.HasPrefix(s, PlaceholderInstall):
		return installDir + s[len(PlaceholderInstall):]
	case strings.HasPrefix(s, PlaceholderData):
		return dataDir + s[len(PlaceholderData):]
	}
	return s
}

// UsesInstall reports whether the MCP section names files under the
// folder it is installed from.
func (c *MCP) UsesInstall() bool {
	if c == nil {
		return false
	}
	if strings.HasPrefix(c.Command, PlaceholderInstall) {
		return true
	}
	for _, s := range append(slices.Clone(c.Args), slices.Collect(maps.Values(c.Env))...) {
		if strings.HasPrefix(s, PlaceholderInstall) {
			return true
		}
	}
	return false
}
