package partner_test

import (
	"context"
	"errors"
	"testing"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// claim runs c in a transaction of its own.
func claim(db *store.DB, c partner.NonceClaim) error {
	return db.InTx(context.Background(), func(tx *store.Tx) error { return c(context.Background(), tx) })
}

func TestVerifyDeferred(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustService(t, db)
		secret := mustRegister(t, s, "eleme", partner.ScopeEventsWrite)
		body := []byte(`{"event_id":"e1"}`)
		h := signed(db, "eleme", secret, "POST", "/v1/events", body)

		t.Run("ErrMissingScopeKeepsNoNonce", func(t *testing.T) {
			_, c, err := s.VerifyDeferred(ctx, "POST", "/v1/events", h, body, partner.ScopeEventsReverse)
			if oc.ErrorCode(err) != oc.EMissingScope || c != nil {
				t.Fatalf("missing scope: %v", err)
			}
		})
		t.Run("ErrInvalidSignature", func(t *testing.T) {
			_, c, err := s.VerifyDeferred(ctx, "POST", "/v1/events", h, []byte(`{"event_id":"e2"}`), partner.ScopeEventsWrite)
			if oc.ErrorCode(err) != oc.EInvalidSignature || c != nil {
				t.Fatalf("changed body: %v", err)
			}
		})
		id, c, err := s.VerifyDeferred(ctx, "POST", "/v1/events", h, body, partner.ScopeEventsWrite)
		if err != nil || id != "eleme" {
			t.Fatalf("verify: %q %v", id, err)
		}
		t.Run("ClaimRolledBackRecordsNothing", func(t *testing.T) {
			boom := errors.New("boom")
			err := db.InTx(ctx, func(tx *store.Tx) error {
				if err := c(ctx, tx); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}
		})
		t.Run("OKClaim", func(t *testing.T) {
			if err := claim(db, c); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("ErrNonceReusedClaimedTwice", func(t *testing.T) {
			if err := claim(db, c); oc.ErrorCode(err) != oc.ENonceReused {
				t.Fatalf("claim again: %v", err)
			}
		})
		t.Run("ErrNonceReusedReplayed", func(t *testing.T) {
			// The replay passes the signature check; its claim refuses it.
			_, c2, err := s.VerifyDeferred(ctx, "POST", "/v1/events", h, body, partner.ScopeEventsWrite)
			if err != nil {
				t.Fatal(err)
			}
			if err := claim(db, c2); oc.ErrorCode(err) != oc.ENonceReused {
				t.Fatalf("replay claim: %v", err)
			}
		})
		t.Run("ErrNonceReusedByVerify", func(t *testing.T) {
			// Claims and Verify share the record.
			if _, err := s.Verify(ctx, "POST", "/v1/events", h, body, partner.ScopeEventsWrite); oc.ErrorCode(err) != oc.ENonceReused {
				t.Fatalf("verify replay: %v", err)
			}
			h2 := signed(db, "eleme", secret, "POST", "/v1/events", body)
			if _, err := s.Verify(ctx, "POST", "/v1/events", h2, body, partner.ScopeEventsWrite); err != nil {
				t.Fatal(err)
			}
			_, c3, err := s.VerifyDeferred(ctx, "POST", "/v1/events", h2, body, partner.ScopeEventsWrite)
			if err != nil {
				t.Fatal(err)
			}
			if err := claim(db, c3); oc.ErrorCode(err) != oc.ENonceReused {
				t.Fatalf("claim of a nonce Verify recorded: %v", err)
			}
		})
	})
}
