package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestLoadSecretKey(t *testing.T) {
	t.Setenv("OPENCARBON_SECRET_KEY", "")
	os.Unsetenv("OPENCARBON_SECRET_KEY")
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "oc.db")

	t.Run("SQLiteCreatesKeyFileOnce", func(t *testing.T) {
		k1, src, err := loadSecretKey(&config{DB: db})
		if err != nil || len(k1) != 32 || src != filepath.Join(dir, "oc.db.key") {
			t.Fatalf("first load = %x %q %v", k1, src, err)
		}
		st, err := os.Stat(src)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode %v %v, want 0600", st.Mode(), err)
		}
		k2, _, err := loadSecretKey(&config{DB: db + "?_pragma=x"})
		if err != nil || !bytes.Equal(k1, k2) {
			t.Fatalf("second load gave another key: %x %x %v", k1, k2, err)
		}
	})
	t.Run("ConcurrentStartsAgree", func(t *testing.T) {
		cfg := &config{DB: "sqlite:" + filepath.Join(dir, "race.db")}
		keys := make([][]byte, 8)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, _, err := loadSecretKey(cfg)
				if err != nil {
					t.Error(err)
				}
				keys[i] = k
			}()
		}
		wg.Wait()
		for _, k := range keys {
			if !bytes.Equal(k, keys[0]) {
				t.Fatal("concurrent starts created different keys")
			}
		}
	})
	t.Run("ErrPostgresWithoutKey", func(t *testing.T) {
		if _, _, err := loadSecretKey(&config{DB: "postgres://x@localhost/db"}); !errors.Is(err, errNoSecretKey) {
			t.Fatalf("postgres without key: %v", err)
		}
	})
	want := bytes.Repeat([]byte{7}, 32)
	t.Run("EnvHexOrBase64", func(t *testing.T) {
		for _, v := range []string{hex.EncodeToString(want), base64.StdEncoding.EncodeToString(want), base64.RawURLEncoding.EncodeToString(want)} {
			t.Setenv("OPENCARBON_SECRET_KEY", v)
			k, src, err := loadSecretKey(&config{DB: "postgres://x@localhost/db"})
			if err != nil || !bytes.Equal(k, want) || src != "OPENCARBON_SECRET_KEY" {
				t.Fatalf("env %q = %x %q %v", v, k, src, err)
			}
		}
		t.Setenv("OPENCARBON_SECRET_KEY", "too-short")
		if _, _, err := loadSecretKey(&config{DB: "postgres://x@localhost/db"}); err == nil {
			t.Fatal("a short key was accepted")
		}
	})
	t.Run("FileWinsOverEnv", func(t *testing.T) {
		t.Setenv("OPENCARBON_SECRET_KEY", hex.EncodeToString(bytes.Repeat([]byte{1}, 32)))
		f := filepath.Join(dir, "k.bin")
		os.WriteFile(f, want, 0o600)
		k, src, err := loadSecretKey(&config{DB: "postgres://x@localhost/db", SecretKeyFile: f})
		if err != nil || !bytes.Equal(k, want) || src != f {
			t.Fatalf("file key = %x %q %v", k, src, err)
		}
		if _, _, err := loadSecretKey(&config{DB: db, SecretKeyFile: filepath.Join(dir, "missing")}); err == nil {
			t.Fatal("a missing --secret-key-file was accepted")
		}
	})
}

func TestDerivedKeys(t *testing.T) {
	k := bytes.Repeat([]byte{9}, 32)
	p1, derived := personTokenKey(&config{}, k)
	p2, _ := personTokenKey(&config{}, k)
	if !derived || !bytes.Equal(p1, p2) || bytes.Equal(p1, k) {
		t.Fatal("derived person token key is not stable or equals the secret key")
	}
	if got, derived := personTokenKey(&config{PersonTokenKey: "host-key"}, k); derived || string(got) != "host-key" {
		t.Fatal("configured person token key not used")
	}
	if demoPartnerSecret(k, "eleme") == demoPartnerSecret(k, "cainiao") || len(demoPartnerSecret(k, "eleme")) != 64 {
		t.Fatal("demo partner secrets are not distinct 64-hex strings")
	}
}

// TestTokenCmd mints a token the way a newcomer would and checks it is
// signed with the key a server on the same database verifies with.
func TestTokenCmd(t *testing.T) {
	os.Unsetenv("OPENCARBON_SECRET_KEY")
	os.Unsetenv("OPENCARBON_PERSON_TOKEN_KEY")
	db := "sqlite:" + filepath.Join(t.TempDir(), "oc.db")
	out := captureStdout(t, func() error {
		return tokenCmd(context.Background(), []string{"--db", db, "--person", "demo-lihua", "--ttl", "1h"})
	})
	secret, _, err := loadSecretKey(&config{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := personTokenKey(&config{}, secret)
	claims := &jwt.RegisteredClaims{}
	_, err = jwt.ParseWithClaims(strings.TrimSpace(out), claims, func(*jwt.Token) (any, error) { return key, nil }, jwt.WithValidMethods([]string{"HS256"}))
	if err != nil || claims.Subject != "demo-lihua" || time.Until(claims.ExpiresAt.Time) > time.Hour {
		t.Fatalf("token %q: %v %+v", out, err, claims)
	}
	for _, args := range [][]string{{"--db", db}, {"--db", db, "--person", "x", "--ttl", "-1h"}, {"--db", db, "--person", "a\nb"}, {"--db", "postgres://x@localhost/db", "--person", "p"}} {
		if err := tokenCmd(context.Background(), args); err == nil {
			t.Errorf("token %v succeeded", args)
		}
	}
}

func captureStdout(t *testing.T, fn func() error) string {
	t.Helper()
	r, w, _ := os.Pipe()
	old := os.Stdout
	os.Stdout = w
	err := fn()
	os.Stdout = old
	w.Close()
	b, _ := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestShortPersonTokenKeyRefused: a configured HS256 person token key
// shorter than 32 bytes (RFC 7518 §3.2) can be found offline from one
// token, so the app refuses to start with it; the token command too.
func TestShortPersonTokenKeyRefused(t *testing.T) {
	tests := []struct {
		name, key string
		ok        bool
	}{
		{"ErrOneByte", "K", false},
		{"ErrThirtyOneBytes", strings.Repeat("k", 31), false},
		{"OKThirtyTwoBytes", strings.Repeat("k", 32), true},
		{"OKDerived", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := "sqlite:" + filepath.Join(t.TempDir(), "oc.db")
			a, err := openApp(context.Background(), &config{DB: db, PersonTokenKey: tc.key})
			if err == nil {
				a.close()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("openApp with a %d-byte key: %v, want ok=%v", len(tc.key), err, tc.ok)
			}
			err = tokenCmd(context.Background(), []string{"--db", db, "--person", "p", "--person-token-key", tc.key})
			if tc.key != "" && (err == nil) != tc.ok {
				t.Fatalf("token with a %d-byte key: %v, want ok=%v", len(tc.key), err, tc.ok)
			}
		})
	}
}
