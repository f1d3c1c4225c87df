package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opencarbon/opencarbon/web"
)

// tokenCmd mints a person token for local use: with --person-token-key (or
// OPENCARBON_PERSON_TOKEN_KEY) if set, else with the key a server on the
// same --db derives from its secret key (see keys.go), so the token works
// against "opencarbon serve" run with the same settings.
func tokenCmd(ctx context.Context, args []string) error {
	fs, cfg := newConfigFlags("token", false)
	person := fs.String("person", "", "person id, the token's sub (required)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	fs.StringVar(&cfg.PersonTokenKey, "person-token-key", env("PERSON_TOKEN_KEY", ""), "HS256 key the server verifies person tokens with (OPENCARBON_PERSON_TOKEN_KEY)")
	if err := parse(fs, args); err != nil {
		return err
	}
	p := *person
	if p == "" || len(p) > 128 || !utf8.ValidString(p) || strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errors.New("token: --person must be 1 to 128 bytes of printable UTF-8")
	}
	if *ttl <= 0 || *ttl > 366*24*time.Hour {
		return errors.New("token: --ttl must be positive and at most a year")
	}
	if err := checkPersonTokenKey(cfg); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	key := []byte(cfg.PersonTokenKey)
	if len(key) == 0 {
		secret, _, err := loadSecretKey(cfg)
		if err != nil {
			return fmt.Errorf("token: %w", err)
		}
		key, _ = personTokenKey(cfg, secret)
	}
	tok, err := web.MintPersonToken(key, p, *ttl)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	fmt.Println(tok)
	return nil
}
