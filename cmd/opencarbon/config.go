package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// config is every setting of the server, from flags or OPENCARBON_* env.
type config struct {
	Addr           string
	DebugAddr      string // net/http/pprof listener; empty: none
	DB             string
	AdminToken     string
	PersonTokenKey string
	SecretKeyFile  string
	Redis          string
	PublicURL      string
	BaoLevels      string
	Demo           bool
	Quorum         int
	Shutdown       time.Duration
	LogFormat      string
	IntakeShards   int           // group-commit writers (0: 1)
	MaxEventAge    time.Duration // events older than this are too_old
	LotTTL         time.Duration // lifetime of point lots without a campaign expiry
}

// flagSet returns a FlagSet for cmd with the common database flags and, for
// serving commands, the server flags. Defaults come from the environment.
func newConfigFlags(cmd string, server bool) (*flag.FlagSet, *config) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	c := &config{}
	fs.StringVar(&c.DB, "db", env("DB", "sqlite:./opencarbon.db"), "database: sqlite:PATH or postgres://... (OPENCARBON_DB)")
	fs.StringVar(&c.SecretKeyFile, "secret-key-file", env("SECRET_KEY_FILE", ""), "file holding the key that encrypts partner secrets at rest; default: <db>.key beside a SQLite file, required for PostgreSQL unless OPENCARBON_SECRET_KEY is set (OPENCARBON_SECRET_KEY_FILE)")
	fs.StringVar(&c.LogFormat, "log", env("LOG", "text"), "log format: text or json (OPENCARBON_LOG)")
	fs.IntVar(&c.IntakeShards, "intake-shards", envInt("INTAKE_SHARDS", 0), "event intake writers, one transaction each at a time; 0: 1 (OPENCARBON_INTAKE_SHARDS)")
	fs.DurationVar(&c.MaxEventAge, "max-event-age", 30*24*time.Hour, "events that occurred longer ago are refused as too_old")
	fs.DurationVar(&c.LotTTL, "lot-ttl", envDuration("LOT_TTL", 365*24*time.Hour), "points expire this long after their credit day (OPENCARBON_LOT_TTL)")
	if server {
		fs.StringVar(&c.Addr, "addr", env("ADDR", "127.0.0.1:8080"), "listen address (OPENCARBON_ADDR)")
		fs.StringVar(&c.DebugAddr, "debug-addr", env("DEBUG_ADDR", ""), "separate listen address for Go's /debug/pprof profiles, e.g. 127.0.0.1:6060; empty: off. Never expose it publicly (OPENCARBON_DEBUG_ADDR)")
		fs.StringVar(&c.AdminToken, "admin-token", env("ADMIN_TOKEN", ""), "bearer token for /v1/admin calls; empty disables them, --demo generates one (OPENCARBON_ADMIN_TOKEN)")
		fs.StringVar(&c.PersonTokenKey, "person-token-key", env("PERSON_TOKEN_KEY", ""), "HS256 key that verifies person tokens (OPENCARBON_PERSON_TOKEN_KEY)")
		fs.StringVar(&c.BaoLevels, "bao-levels", env("BAO_LEVELS", ""), "Carbon Bao levels MIN_MG:名称:Name,... (default in docs/honor.md) (OPENCARBON_BAO_LEVELS)")
		fs.StringVar(&c.PublicURL, "public-url", env("PUBLIC_URL", ""), "base URL this deployment is reached at; names the issuer of medal credentials (OPENCARBON_PUBLIC_URL)")
		fs.StringVar(&c.Redis, "redis", env("REDIS", ""), "redis://host:port for shared leaderboards; empty keeps them in process (OPENCARBON_REDIS)")
		fs.BoolVar(&c.Demo, "demo", envBool("DEMO"), "load demo partners, people, methodologies, offers and campaigns (OPENCARBON_DEMO)")
		fs.IntVar(&c.Quorum, "quorum", envInt("QUORUM", 2), "distinct reviewers needed to approve a methodology (OPENCARBON_QUORUM)")
		fs.DurationVar(&c.Shutdown, "shutdown-timeout", 20*time.Second, "how long in-flight requests may finish after SIGTERM")
	}
	return fs, c
}

func env(name, def string) string {
	if v, ok := os.LookupEnv("OPENCARBON_" + name); ok {
		return v
	}
	return def
}

func envBool(name string) bool {
	v, _ := strconv.ParseBool(env(name, "false"))
	return v
}

func envDuration(name string, def time.Duration) time.Duration {
	v, err := time.ParseDuration(env(name, def.String()))
	if err != nil {
		return def
	}
	return v
}

func envInt(name string, def int) int {
	v, err := strconv.Atoi(env(name, strconv.Itoa(def)))
	if err != nil {
		return def
	}
	return v
}

// parse parses args and refuses positional leftovers.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments: %s", fs.Name(), strings.Join(fs.Args(), " "))
	}
	return nil
}
