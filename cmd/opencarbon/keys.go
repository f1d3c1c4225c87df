package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Key management (see docs/operations.md).
//
// The secret key (32 bytes) encrypts partner secrets at rest. It comes from,
// in order: --secret-key-file / OPENCARBON_SECRET_KEY_FILE; the
// OPENCARBON_SECRET_KEY environment variable (64 hex digits or base64 of 32
// bytes); for SQLite only, the file <db path>.key beside the database,
// created with mode 0600 and random bytes when missing. PostgreSQL needs
// one of the first two: several servers share the database, so they must
// share the key, and no file beside the database exists.
//
// The person token key verifies HS256 person tokens issued by the host
// platform (--person-token-key). When it is empty, a key derived from the
// secret key is used, so that tokens minted by "opencarbon token" survive
// restarts; outside --demo that is logged as a warning.

// errNoSecretKey says that no secret key is configured for PostgreSQL.
var errNoSecretKey = errors.New("no secret key: PostgreSQL needs --secret-key-file or OPENCARBON_SECRET_KEY (32 bytes: 64 hex digits or base64); see docs/operations.md")

// loadSecretKey returns the secret key and where it came from.
func loadSecretKey(cfg *config) ([]byte, string, error) {
	if cfg.SecretKeyFile != "" {
		k, err := readKeyFile(cfg.SecretKeyFile)
		return k, cfg.SecretKeyFile, err
	}
	if v, ok := os.LookupEnv("OPENCARBON_SECRET_KEY"); ok && v != "" {
		k, err := parseKey(strings.TrimSpace(v))
		if err != nil {
			return nil, "", fmt.Errorf("OPENCARBON_SECRET_KEY: %w", err)
		}
		return k, "OPENCARBON_SECRET_KEY", nil
	}
	path, ok := sqlitePath(cfg.DB)
	if !ok {
		return nil, "", errNoSecretKey
	}
	if path == ":memory:" || strings.HasPrefix(path, "file::memory:") {
		k := make([]byte, 32)
		rand.Read(k)
		return k, "ephemeral (in-memory database)", nil
	}
	keyPath := path + ".key"
	k, err := readKeyFile(keyPath)
	if err == nil {
		return k, keyPath, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, "", err
	}
	if err := createKeyFile(keyPath); err != nil {
		return nil, "", err
	}
	k, err = readKeyFile(keyPath)
	return k, keyPath, err
}

// sqlitePath returns the file path of a SQLite DSN.
func sqlitePath(dsn string) (string, bool) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return "", false
	}
	p := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "file:")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p, p != ""
}

// createKeyFile writes 32 random bytes (hex) to path with mode 0600 unless
// the file exists. Two processes starting at once agree on one key: each
// writes a temporary file and links it into place, and link never replaces.
func createKeyFile(path string) error {
	k := make([]byte, 32)
	rand.Read(k)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".opencarbon-key-*")
	if err != nil {
		return fmt.Errorf("create secret key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("create secret key: %w", err)
	}
	if _, err := tmp.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("create secret key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("create secret key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("create secret key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create secret key %s: %w", path, err)
	}
	slog.Info("created a new secret key for partner secrets; back it up with the database", "file", path)
	return nil
}

// readKeyFile reads a key file holding 64 hex digits, base64 of 32 bytes,
// or exactly 32 raw bytes.
func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		slog.Warn("secret key file is readable by other users; chmod 600 it", "file", path, "mode", st.Mode().Perm().String())
	}
	if len(b) == 32 {
		return b, nil
	}
	k, err := parseKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return k, nil
}

// parseKey decodes a 32-byte key from 64 hex digits or base64.
func parseKey(s string) ([]byte, error) {
	if k, err := hex.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, errors.New("key must be 32 bytes: 64 hex digits or base64")
}

// derive returns a purpose-specific key from the secret key, so one
// configured secret yields independent keys (HMAC-SHA256 as a KDF).
func derive(secretKey []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secretKey)
	m.Write([]byte("opencarbon/" + purpose + "/v1"))
	return m.Sum(nil)
}

// MinPersonTokenKey is the shortest person token key accepted: HS256 needs
// a key of at least the hash size (RFC 7518 §3.2); a shorter one can be
// found offline from a single token, and then any person's token forged.
const MinPersonTokenKey = 32

// checkPersonTokenKey refuses a configured person token key that is too
// short (an empty one means: derive it from the secret key).
func checkPersonTokenKey(cfg *config) error {
	if n := len(cfg.PersonTokenKey); n > 0 && n < MinPersonTokenKey {
		return fmt.Errorf("--person-token-key is %d bytes; HS256 needs at least %d", n, MinPersonTokenKey)
	}
	return nil
}

// personTokenKey returns the configured person token key or, when none is
// configured, one derived from the secret key.
func personTokenKey(cfg *config, secretKey []byte) ([]byte, bool) {
	if cfg.PersonTokenKey != "" {
		return []byte(cfg.PersonTokenKey), false
	}
	return derive(secretKey, "person-token-key"), true
}

// demoPartnerSecret is the stable secret of a demo partner.
func demoPartnerSecret(secretKey []byte, id string) string {
	return hex.EncodeToString(derive(secretKey, "demo-partner-secret/"+id))
}

// demoAdminToken is the stable admin token of a demo server without one.
func demoAdminToken(secretKey []byte) string {
	return "demo-" + hex.EncodeToString(derive(secretKey, "demo-admin-token"))[:32]
}
