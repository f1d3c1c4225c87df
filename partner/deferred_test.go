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

// claim runs c in a transaction of its own and returns its result.
func claim(db *store.DB, c partner.NonceClaim) error {
	var res []error
	err := db.InTx(context.Background(), func(tx *store.Tx) error {
		var err error
		res, err = partner.ClaimNoncesTx(context.Background(), tx, []partner.NonceClaim{c})
		return err
	})
	if err != nil {
		return err
	}
	return res[0]
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
			if oc.ErrorCode(err) != oc.EMissingScope || c != (partner.NonceClaim{}) {
				t.Fatalf("missing scope: %v", err)
			}
		})
		t.Run("ErrInvalidSignature", func(t *testing.T) {
			_, c, err := s.VerifyDeferred(ctx, "POST", "/v1/events", h, []byte(`{"event_id":"e2"}`), partner.ScopeEventsWrite)
			if oc.ErrorCode(err) != oc.EInvalidSignature || c != (partner.NonceClaim{}) {
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
				if res, err := partner.ClaimNoncesTx(ctx, tx, []partner.NonceClaim{c}); err != nil || res[0] != nil {
					t.Fatalf("claim: %v %v", res, err)
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

// TestClaimNoncesTx claims the nonces of several requests at once, as the
// intake's group commit does: each gets its own answer, a nonce twice in
// one list is refused the second time, and a partner suspended since its
// requests were verified has them all refused without keeping a nonce.
func TestClaimNoncesTx(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustService(t, db)
		secrets := map[string]string{
			"eleme":   mustRegister(t, s, "eleme", partner.ScopeEventsWrite),
			"cainiao": mustRegister(t, s, "cainiao", partner.ScopeEventsWrite),
		}
		verified := func(id string) partner.NonceClaim {
			t.Helper()
			_, c, err := s.VerifyDeferred(ctx, "POST", "/v1/events", signed(db, id, secrets[id], "POST", "/v1/events", nil), nil, partner.ScopeEventsWrite)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		used := verified("eleme")
		if err := claim(db, used); err != nil {
			t.Fatal(err)
		}
		e1, e2, c1, c2 := verified("eleme"), verified("eleme"), verified("cainiao"), verified("cainiao")
		if _, err := s.Suspend(ctx, "cainiao", "test", "ops"); err != nil {
			t.Fatal(err)
		}
		// Enough claims for more than one SQLite statement.
		many := make([]partner.NonceClaim, 300)
		for i := range many {
			many[i] = verified("eleme")
		}
		for _, tc := range []struct {
			name   string
			claims []partner.NonceClaim
			want   []string // error codes, "" for accepted
		}{
			{"Fresh", []partner.NonceClaim{e1, e2}, []string{"", ""}},
			{"AgainAndUsed", []partner.NonceClaim{e2, used, e1}, []string{oc.ENonceReused, oc.ENonceReused, oc.ENonceReused}},
			{"SuspendedAndTwiceInOneList", []partner.NonceClaim{c1, many[0], c2, many[0], c1}, []string{oc.EPartnerSuspended, "", oc.EPartnerSuspended, oc.ENonceReused, oc.ENonceReused}},
			{"Many", many[1:], nil},
			{"ManyAgain", many[1:], []string{oc.ENonceReused}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := nonceRows(t, db)
				var res []error
				err := db.InTx(ctx, func(tx *store.Tx) error {
					var err error
					res, err = partner.ClaimNoncesTx(ctx, tx, tc.claims)
					return err
				})
				if err != nil || len(res) != len(tc.claims) {
					t.Fatalf("claim: %d results, %v", len(res), err)
				}
				kept := 0
				for i, e := range res {
					want := ""
					if tc.want != nil {
						want = tc.want[min(i, len(tc.want)-1)]
					}
					if e != nil && !errors.As(e, new(*oc.Error)) {
						t.Fatalf("claim %d: %v is not a refusal", i, e)
					}
					if got := oc.ErrorCode(e); got != want {
						t.Fatalf("claim %d: %q (%v), want %q", i, got, e, want)
					}
					if e == nil {
						kept++
					}
				}
				if got := nonceRows(t, db); got != before+kept {
					t.Fatalf("nonce rows %d -> %d, want %d more", before, got, kept)
				}
			})
		}
	})
}
