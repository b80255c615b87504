package engine

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The environment variables that cap the live workers.
const (
	EnvMaxWorkers        = "ISOLATEGPT_MAX_WORKERS"
	EnvMaxWorkersPerUser = "ISOLATEGPT_MAX_WORKERS_PER_USER"
	// EnvMaxQueries caps the queries running at once (Config.MaxQueries).
	EnvMaxQueries = "ISOLATEGPT_MAX_QUERIES"
)

// maxCap bounds a configured cap: far past what one hub's descriptors and
// threads allow, so a typo of a few digits is an error, not a hub that
// forks without bound.
const maxCap = 100_000

// workerCaps fills the worker caps left at zero from the environment. A
// value that is set but not a positive integer (at most maxCap) is an
// error: a cap is a resource limit, and a silent default would hide it.
func workerCaps(cfg *Config) error {
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	for _, c := range []struct {
		name string
		dst  *int
	}{{EnvMaxWorkers, &cfg.MaxWorkers}, {EnvMaxWorkersPerUser, &cfg.MaxWorkersPerUser}, {EnvMaxQueries, &cfg.MaxQueries}} {
		if *c.dst < 0 || *c.dst > maxCap {
			return fmt.Errorf("%s cap %d: want 1 to %d", c.name, *c.dst, maxCap)
		}
		if *c.dst != 0 {
			continue
		}
		v, err := ParseCap(c.name, getenv(c.name))
		if err != nil {
			return err
		}
		*c.dst = v
	}
	return nil
}

// ParseCap reads one cap's value from the environment variable name: empty
// is zero (the default), anything else must be an integer from 1 to
// 100,000.
func ParseCap(name, value string) (int, error) {
	v := strings.TrimSpace(value)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxCap {
		return 0, fmt.Errorf("%s=%q: want an integer from 1 to %d", name, value, maxCap)
	}
	return n, nil
}
