package partner_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

func nonceRows(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.Read().QueryRow(`SELECT COUNT(*) FROM partner_nonces`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSuspendAcrossProcesses suspends a partner in one process while
// another has its row cached as active: the next request there is refused
// with EPartnerSuspended (by Verify and by VerifyDeferred's claim) and no
// nonce is kept; reinstating in the first process restores the second at
// once although the second has seen the partner suspended.
func TestSuspendAcrossProcesses(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		db2, err := store.Open(ctx, db.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer db2.Close()
		a, b := mustService(t, db), mustService(t, db2)
		b.CacheTTL = time.Hour // a stale cache must not matter
		secret := mustRegister(t, a, "eleme", partner.ScopeEventsWrite)
		verify := func(s *partner.Service) error {
			_, err := s.Verify(ctx, "POST", "/v1/events", signed(db, "eleme", secret, "POST", "/v1/events", nil), nil, partner.ScopeEventsWrite)
			return err
		}
		deferred := func(s *partner.Service) error {
			_, c, err := s.VerifyDeferred(ctx, "POST", "/v1/events", signed(db, "eleme", secret, "POST", "/v1/events", nil), nil, partner.ScopeEventsWrite)
			if err != nil {
				return err
			}
			return claim(db2, c)
		}
		if err := verify(b); err != nil {
			t.Fatal(err) // b now caches eleme as active
		}
		p, err := a.Suspend(ctx, "eleme", "  fraud investigation #12 ", "ops-li")
		if err != nil || p.Status != partner.StatusSuspended || p.StatusReason != "fraud investigation #12" || p.StatusChangedBy != "ops-li" || p.StatusChangedAt == nil {
			t.Fatalf("suspend = %+v, %v", p, err)
		}
		before := nonceRows(t, db)
		for name, f := range map[string]func(*partner.Service) error{"VerifyStale": verify, "DeferredStale": deferred, "VerifyFresh": verify, "DeferredFresh": deferred} {
			svc := b
			if strings.HasSuffix(name, "Fresh") {
				svc = a
			}
			if err := f(svc); oc.ErrorCode(err) != oc.EPartnerSuspended {
				t.Fatalf("%s: %v, want %s", name, err, oc.EPartnerSuspended)
			}
		}
		if got := nonceRows(t, db); got != before {
			t.Fatalf("suspended requests kept nonces: %d -> %d", before, got)
		}
		if _, _, err := a.Endpoint(ctx, "eleme"); oc.ErrorCode(err) != oc.ENotFound {
			t.Fatalf("endpoint of a suspended partner: %v", err)
		}
		if _, err := a.Reinstate(ctx, "eleme", "", "ops-wang"); err != nil {
			t.Fatal(err)
		}
		if err := verify(b); err != nil {
			t.Fatalf("after reinstatement in another process: %v", err)
		}
		if err := deferred(b); err != nil {
			t.Fatalf("deferred after reinstatement: %v", err)
		}
		ch, err := b.Changes(ctx, "eleme")
		if err != nil || len(ch) != 2 || ch[0].Action != partner.ActionSuspend || ch[0].Detail != "fraud investigation #12" || ch[0].Actor != "ops-li" ||
			ch[1].Action != partner.ActionReinstate || ch[1].Actor != "ops-wang" || ch[1].Seq != 2 {
			t.Fatalf("changes = %+v, %v", ch, err)
		}
	})
}

func TestSuspendRefusals(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustService(t, db)
		mustRegister(t, s, "eleme", partner.ScopeEventsWrite)
		tests := []struct {
			name string
			call func() error
			code string
		}{
			{"ErrNoReason", func() error { _, err := s.Suspend(ctx, "eleme", "  ", "ops"); return err }, oc.EInvalid},
			{"ErrLongReason", func() error {
				_, err := s.Suspend(ctx, "eleme", strings.Repeat("x", partner.MaxReasonLen+1), "ops")
				return err
			}, oc.EInvalid},
			{"ErrControlInReason", func() error { _, err := s.Suspend(ctx, "eleme", "bad\x00", "ops"); return err }, oc.EInvalid},
			{"ErrNoActor", func() error { _, err := s.Suspend(ctx, "eleme", "why", ""); return err }, oc.EInvalid},
			{"ErrUnknown", func() error { _, err := s.Suspend(ctx, "nobody", "why", "ops"); return err }, oc.ENotFound},
			{"ErrReinstateActive", func() error { _, err := s.Reinstate(ctx, "eleme", "", "ops"); return err }, oc.EConflict},
			{"ErrScopesEmpty", func() error { _, err := s.SetScopes(ctx, "eleme", nil, "ops"); return err }, oc.EInvalid},
			{"ErrScopesUnknown", func() error { _, err := s.SetScopes(ctx, "eleme", []string{"events:write", "root"}, "ops"); return err }, oc.EInvalid},
			{"ErrScopesPartnerUnknown", func() error { _, err := s.SetScopes(ctx, "nobody", []string{"events:write"}, "ops"); return err }, oc.ENotFound},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if err := tc.call(); oc.ErrorCode(err) != tc.code {
					t.Fatalf("= %v, want %s", err, tc.code)
				}
				p, _ := s.Get(ctx, "eleme")
				ch, _ := s.Changes(ctx, "eleme")
				if p.Status != partner.StatusActive || !slices.Equal(p.Scopes, []string{partner.ScopeEventsWrite}) || len(ch) != 0 {
					t.Fatalf("refused call changed the partner: %+v %v", p, ch)
				}
			})
		}
		if _, err := s.Suspend(ctx, "eleme", "why", "ops"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Suspend(ctx, "eleme", "again", "ops"); oc.ErrorCode(err) != oc.EConflict {
			t.Fatalf("second suspension: %v", err)
		}
	})
}

func TestSetScopesNextRequest(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustService(t, db)
		s.CacheTTL = time.Hour // the change in this process must not wait for it
		secret := mustRegister(t, s, "eleme", partner.ScopeEventsWrite)
		verify := func(scope string) error {
			_, err := s.Verify(ctx, "POST", "/x", signed(db, "eleme", secret, "POST", "/x", nil), nil, scope)
			return err
		}
		if err := verify(partner.ScopeEventsReverse); oc.ErrorCode(err) != oc.EMissingScope {
			t.Fatal(err)
		}
		p, err := s.SetScopes(ctx, "eleme", []string{partner.ScopeEventsReverse, partner.ScopeWebhooks, partner.ScopeEventsReverse}, "ops")
		if err != nil || !slices.Equal(p.Scopes, []string{partner.ScopeEventsReverse, partner.ScopeWebhooks}) {
			t.Fatalf("set scopes = %+v, %v", p, err)
		}
		if err := verify(partner.ScopeEventsReverse); err != nil {
			t.Fatalf("granted scope: %v", err)
		}
		if err := verify(partner.ScopeEventsWrite); oc.ErrorCode(err) != oc.EMissingScope {
			t.Fatalf("removed scope: %v", err)
		}
		ch, _ := s.Changes(ctx, "eleme")
		if len(ch) != 1 || ch[0].Action != partner.ActionScopes || ch[0].Detail != "events:reverse webhooks" {
			t.Fatalf("changes = %+v", ch)
		}
	})
}
