package partner_test

import (
	"context"
	"strings"
	"testing"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

var comps = []store.Component{partner.Migrations}

func mustService(tb testing.TB, db *store.DB) *partner.Service {
	tb.Helper()
	s, err := partner.NewService(db, testKey)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustRegister(tb testing.TB, s *partner.Service, id string, scopes ...string) string {
	tb.Helper()
	secret, err := s.Register(context.Background(), partner.Registration{ID: id, Name: "Partner " + id, Scopes: scopes})
	if err != nil {
		tb.Fatalf("register %s: %v", id, err)
	}
	return secret
}

func TestRegister(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustService(t, db)
		secret := mustRegister(t, s, "eleme", partner.ScopeEventsWrite, partner.ScopeWebhooks, partner.ScopeEventsWrite)
		if len(secret) != 64 || strings.Trim(secret, "0123456789abcdef") != "" {
			t.Fatalf("secret %q is not 64 hex characters", secret)
		}
		tests := []struct {
			name string
			reg  partner.Registration
			code string
		}{
			{"ErrDuplicate", partner.Registration{ID: "eleme", Name: "again", Scopes: []string{"webhooks"}}, oc.EConflict},
			{"ErrIDUpper", partner.Registration{ID: "Eleme", Name: "x", Scopes: []string{"webhooks"}}, oc.EInvalid},
			{"ErrIDShort", partner.Registration{ID: "e", Name: "x", Scopes: []string{"webhooks"}}, oc.EInvalid},
			{"ErrIDLong", partner.Registration{ID: "a" + strings.Repeat("b", 32), Name: "x", Scopes: []string{"webhooks"}}, oc.EInvalid},
			{"ErrNameEmpty", partner.Registration{ID: "okid", Name: "  ", Scopes: []string{"webhooks"}}, oc.EInvalid},
			{"ErrNameControl", partner.Registration{ID: "okid", Name: "a\x00b", Scopes: []string{"webhooks"}}, oc.EInvalid},
			{"ErrNoScopes", partner.Registration{ID: "okid", Name: "x"}, oc.EInvalid},
			{"ErrUnknownScope", partner.Registration{ID: "okid", Name: "x", Scopes: []string{"admin"}}, oc.EInvalid},
			{"ErrWebhookScheme", partner.Registration{ID: "okid", Name: "x", Scopes: []string{"webhooks"}, WebhookURL: "ftp://x/y"}, oc.EInvalid},
			{"ErrWebhookRelative", partner.Registration{ID: "okid", Name: "x", Scopes: []string{"webhooks"}, WebhookURL: "/hook"}, oc.EInvalid},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.Register(ctx, tc.reg)
				if got := oc.ErrorCode(err); got != tc.code {
					t.Fatalf("code %q (%v), want %q", got, err, tc.code)
				}
			})
		}
		list, err := s.List(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("list = %v, %v; want only eleme", list, err)
		}
		p := list[0]
		if p.ID != "eleme" || strings.Join(p.Scopes, ",") != "events:write,webhooks" || p.Status != "active" {
			t.Fatalf("partner = %+v", p)
		}
		if ok, _ := s.Exists(ctx, "eleme"); !ok {
			t.Fatal("eleme does not exist")
		}
		if ok, _ := s.Exists(ctx, "nobody"); ok {
			t.Fatal("nobody exists")
		}
		if _, err := s.Get(ctx, "nobody"); oc.ErrorCode(err) != oc.ENotFound {
			t.Fatalf("get nobody: %v", err)
		}
	})
}

func TestSecretsEncryptedAtRest(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustService(t, db)
		secret := mustRegister(t, s, "cainiao", partner.ScopeEventsWrite)
		var stored string
		if err := db.Read().QueryRowContext(ctx, `SELECT secret FROM partner_secrets WHERE partner = 'cainiao'`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored, secret) || strings.Contains(stored, secret[:16]) {
			t.Fatalf("secret stored in clear: %q", stored)
		}
		// Another key cannot read it: the call fails instead of accepting.
		other, _ := partner.NewService(db, []byte("ffffffffffffffffffffffffffffffff"))
		h := signed(db, "cainiao", secret, "POST", "/v1/events", []byte("{}"))
		if _, err := other.Verify(ctx, "POST", "/v1/events", h, []byte("{}"), ""); oc.ErrorCode(err) != oc.EInternal {
			t.Fatalf("verify with the wrong key: %v, want an internal error", err)
		}
		if _, err := partner.NewService(db, []byte("short")); err == nil {
			t.Fatal("a 5-byte key was accepted")
		}
	})
}

func TestEndpointAndWebhookURL(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustService(t, db)
		secret := mustRegister(t, s, "xianyu", partner.ScopeWebhooks)
		if err := s.SetWebhookURL(ctx, "xianyu", "https://hooks.example.com/oc"); err != nil {
			t.Fatal(err)
		}
		u, got, err := s.Endpoint(ctx, "xianyu")
		if err != nil || u != "https://hooks.example.com/oc" || got != secret {
			t.Fatalf("endpoint = %q %q %v", u, got, err)
		}
		newSecret, _, err := s.Rotate(ctx, "xianyu", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, got, _ := s.Endpoint(ctx, "xianyu"); got != newSecret {
			t.Fatal("endpoint does not sign with the newest secret")
		}
		if err := s.SetWebhookURL(ctx, "xianyu", "javascript:alert(1)"); oc.ErrorCode(err) != oc.EInvalid {
			t.Fatalf("bad url: %v", err)
		}
		if err := s.SetWebhookURL(ctx, "nobody", ""); oc.ErrorCode(err) != oc.ENotFound {
			t.Fatalf("unknown partner: %v", err)
		}
		if _, _, err := s.Endpoint(ctx, "nobody"); oc.ErrorCode(err) != oc.ENotFound {
			t.Fatalf("endpoint of unknown partner: %v", err)
		}
	})
}

func TestSeed(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustService(t, db)
		reg := partner.Registration{ID: "tmall", Name: "Tmall 天猫", Scopes: partner.AllScopes}
		secret := strings.Repeat("ab", 32)
		for i := 0; i < 2; i++ {
			if err := s.Seed(ctx, reg, secret); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM partner_secrets WHERE partner = 'tmall'`).Scan(&n)
		if n != 1 {
			t.Fatalf("seeding twice stored %d secrets, want 1", n)
		}
		if _, got, _ := s.Endpoint(ctx, "tmall"); got != secret {
			t.Fatal("seeded secret is not current")
		}
		// After a rotation, seeding brings the demo secret back.
		if _, _, err := s.Rotate(ctx, "tmall", 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Seed(ctx, reg, secret); err != nil {
			t.Fatal(err)
		}
		if _, got, _ := s.Endpoint(ctx, "tmall"); got != secret {
			t.Fatal("seed did not restore the demo secret")
		}
	})
}
