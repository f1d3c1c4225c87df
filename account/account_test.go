package account_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

var comps = []store.Component{partner.Migrations, account.Migrations}

// mustSetup returns an account service over db with partners eleme,
// cainiao and xianyu registered.
func mustSetup(tb testing.TB, db *store.DB) *account.Service {
	tb.Helper()
	ps, err := partner.NewService(db, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, id := range []string{"eleme", "cainiao", "xianyu"} {
		if _, err := ps.Register(context.Background(), partner.Registration{ID: id, Name: id, Scopes: []string{partner.ScopeEventsWrite}}); err != nil {
			tb.Fatal(err)
		}
	}
	return account.NewService(db)
}

func count(tb testing.TB, db *store.DB, table string) int {
	tb.Helper()
	var n int
	if err := db.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func rows(tb testing.TB, db *store.DB) [3]int {
	return [3]int{count(tb, db, "accounts"), count(tb, db, "subaccounts"), count(tb, db, "consents")}
}

func TestOpen(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustSetup(t, db)
		ok := account.OpenRequest{EntryPoint: "search", ConsentVersion: "2026-01", Partners: []string{"eleme"}}
		bad := []struct {
			name   string
			person string
			req    account.OpenRequest
		}{
			{"ErrEmptyPerson", "", ok},
			{"ErrLongPerson", string(make([]byte, 129)), ok},
			{"ErrControlInPerson", "p\n1", ok},
			{"ErrInvalidUTF8Person", "p\xff", ok},
			{"ErrNoEntryPoint", "p1", account.OpenRequest{ConsentVersion: "v1"}},
			{"ErrEntryPointUpper", "p1", account.OpenRequest{EntryPoint: "Search", ConsentVersion: "v1"}},
			{"ErrEntryPointSpace", "p1", account.OpenRequest{EntryPoint: "my page", ConsentVersion: "v1"}},
			{"ErrEntryPointUnknownPartner", "p1", account.OpenRequest{EntryPoint: "partner:nobody", ConsentVersion: "v1"}},
			{"ErrNoConsentVersion", "p1", account.OpenRequest{EntryPoint: "search"}},
			{"ErrConsentVersionSpace", "p1", account.OpenRequest{EntryPoint: "search", ConsentVersion: "v 1"}},
			{"ErrUnknownPartner", "p1", account.OpenRequest{EntryPoint: "search", ConsentVersion: "v1", Partners: []string{"eleme", "nobody"}}},
			{"ErrTooManyPartners", "p1", account.OpenRequest{EntryPoint: "search", ConsentVersion: "v1", Partners: make([]string, 33)}},
		}
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := s.Open(ctx, tc.person, tc.req)
				if oc.ErrorCode(err) != oc.EInvalid {
					t.Fatalf("open: %v, want %s", err, oc.EInvalid)
				}
				if got := rows(t, db); got != [3]int{} {
					t.Fatalf("refused open stored rows %v", got)
				}
			})
		}
		t.Run("OK", func(t *testing.T) {
			req := account.OpenRequest{EntryPoint: "partner:eleme", ConsentVersion: "2026-01", Partners: []string{"xianyu", "eleme", "eleme"}}
			a, created, err := s.Open(ctx, "p1", req)
			if err != nil || !created {
				t.Fatalf("open = %v %v", created, err)
			}
			if a.Person != "p1" || a.EntryPoint != "partner:eleme" || a.ConsentVersion != "2026-01" || len(a.Subaccounts) != 2 ||
				a.Subaccounts[0].Partner != "eleme" || a.Subaccounts[1].Partner != "xianyu" || !a.Subaccounts[0].Linked {
				t.Fatalf("account = %+v", a)
			}
			if got := rows(t, db); got != [3]int{1, 2, 3} {
				t.Fatalf("rows = %v, want 1 account, 2 sub-accounts, 3 consents", got)
			}
		})
		t.Run("OKAlreadyOpen", func(t *testing.T) {
			a, created, err := s.Open(ctx, "p1", account.OpenRequest{EntryPoint: "search", ConsentVersion: "2026-02", Partners: []string{"cainiao"}})
			if err != nil || created {
				t.Fatalf("second open = %v %v", created, err)
			}
			if a.EntryPoint != "partner:eleme" || len(a.Subaccounts) != 2 {
				t.Fatalf("second open changed the account: %+v", a)
			}
			if got := rows(t, db); got != [3]int{1, 2, 3} {
				t.Fatalf("second open stored rows: %v", got)
			}
		})
	})
}

func TestNothingStoredBeforeConsent(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustSetup(t, db)
		if _, err := s.Get(ctx, "stranger"); oc.ErrorCode(err) != oc.ENoConsent {
			t.Fatalf("get: %v", err)
		}
		if _, err := s.Export(ctx, "stranger"); oc.ErrorCode(err) != oc.ENoConsent {
			t.Fatalf("export: %v", err)
		}
		if _, _, err := s.Resolve(ctx, "stranger", "eleme"); oc.ErrorCode(err) != oc.ENoConsent {
			t.Fatalf("resolve: %v", err)
		}
		if _, err := s.AccountID(ctx, "stranger"); oc.ErrorCode(err) != oc.ENoConsent {
			t.Fatalf("account id: %v", err)
		}
		if _, err := s.Link(ctx, "stranger", "eleme"); oc.ErrorCode(err) != oc.ENoConsent {
			t.Fatalf("link: %v", err)
		}
		if _, err := s.Revoke(ctx, "stranger", "eleme"); oc.ErrorCode(err) != oc.ENoConsent {
			t.Fatalf("revoke: %v", err)
		}
		if err := s.Erase(ctx, "stranger"); oc.ErrorCode(err) != oc.ENoConsent {
			t.Fatalf("erase: %v", err)
		}
		if got := rows(t, db); got != [3]int{} {
			t.Fatalf("calls without consent stored rows %v", got)
		}
	})
}

// TestConsentRules drives a person through consent steps and asks the
// intake's gate (ResolveTx) whether a credit from eleme has a target.
func TestConsentRules(t *testing.T) {
	type step func(ctx context.Context, s *account.Service, person string) error
	open := func(partners ...string) step {
		return func(ctx context.Context, s *account.Service, person string) error {
			_, _, err := s.Open(ctx, person, account.OpenRequest{EntryPoint: "my_page", ConsentVersion: "v1", Partners: partners})
			return err
		}
	}
	link := func(p string) step {
		return func(ctx context.Context, s *account.Service, person string) error {
			_, err := s.Link(ctx, person, p)
			return err
		}
	}
	revoke := func(p string) step {
		return func(ctx context.Context, s *account.Service, person string) error {
			_, err := s.Revoke(ctx, person, p)
			return err
		}
	}
	erase := func(ctx context.Context, s *account.Service, person string) error { return s.Erase(ctx, person) }
	tests := []struct {
		name  string
		steps []step
		code  string
	}{
		{"ErrNoConsentBeforeOpen", nil, oc.ENoConsent},
		{"ErrOpenedNotLinked", []step{open()}, oc.EPartnerNotLinked},
		{"ErrOtherPartnerLinked", []step{open("cainiao")}, oc.EPartnerNotLinked},
		{"OKOpenedLinked", []step{open("eleme")}, ""},
		{"OKLinkedLater", []step{open(), link("eleme")}, ""},
		{"ErrRevoked", []step{open("eleme", "cainiao"), revoke("eleme")}, oc.EPartnerNotLinked},
		{"OKRelinked", []step{open("eleme"), revoke("eleme"), link("eleme")}, ""},
		{"ErrRevokedTwice", []step{open("eleme"), revoke("eleme"), revoke("eleme")}, oc.EPartnerNotLinked},
		{"ErrErased", []step{open("eleme"), erase}, oc.ENoConsent},
		{"OKReopenedAfterErase", []step{open("eleme"), erase, open("eleme")}, ""},
	}
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustSetup(t, db)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				person := "person-" + tc.name
				for i, st := range tc.steps {
					if err := st(ctx, s, person); err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
				}
				var acct, sub int64
				err := db.InTx(ctx, func(tx *store.Tx) error {
					var err error
					acct, sub, err = account.ResolveTx(ctx, tx, person, "eleme")
					return err
				})
				if got := oc.ErrorCode(err); got != tc.code {
					t.Fatalf("ResolveTx code %q (%v), want %q", got, err, tc.code)
				}
				a2, s2, err2 := s.Resolve(ctx, person, "eleme")
				if oc.ErrorCode(err2) != tc.code || a2 != acct || s2 != sub {
					t.Fatalf("Resolve = %d %d %v, ResolveTx = %d %d %v", a2, s2, err2, acct, sub, err)
				}
				if tc.code != "" {
					return
				}
				a, err := s.Get(ctx, person)
				if err != nil || a.ID != acct {
					t.Fatalf("get = %+v %v, resolved account %d", a, err, acct)
				}
				for _, sa := range a.Subaccounts {
					if sa.Partner == "eleme" && (sa.ID != sub || !sa.Linked || sa.RevokedAt != nil) {
						t.Fatalf("eleme sub-account %+v, resolved %d", sa, sub)
					}
				}
			})
		}
	})
}

func TestLinkRevoke(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustSetup(t, db)
		if _, _, err := s.Open(ctx, "p1", account.OpenRequest{EntryPoint: "campaign:88week", ConsentVersion: "v1"}); err != nil {
			t.Fatal(err)
		}
		t.Run("ErrUnknownPartner", func(t *testing.T) {
			if _, err := s.Link(ctx, "p1", "nobody"); oc.ErrorCode(err) != oc.ENotFound {
				t.Fatalf("link unknown: %v", err)
			}
		})
		t.Run("ErrNeverLinked", func(t *testing.T) {
			if _, err := s.Revoke(ctx, "p1", "eleme"); oc.ErrorCode(err) != oc.EPartnerNotLinked {
				t.Fatalf("revoke never linked: %v", err)
			}
		})
		first, err := s.Link(ctx, "p1", "eleme")
		if err != nil {
			t.Fatal(err)
		}
		t.Run("OKLinkTwiceRecordsOnce", func(t *testing.T) {
			again, err := s.Link(ctx, "p1", "eleme")
			if err != nil || again.ID != first.ID {
				t.Fatalf("link again = %+v %v", again, err)
			}
			if n := count(t, db, "consents"); n != 2 {
				t.Fatalf("%d consents, want open and one link", n)
			}
		})
		t.Run("OKRevokeTwiceRecordsOnce", func(t *testing.T) {
			for i := 0; i < 2; i++ {
				sa, err := s.Revoke(ctx, "p1", "eleme")
				if err != nil || sa.Linked || sa.RevokedAt == nil || sa.ID != first.ID {
					t.Fatalf("revoke %d = %+v %v", i, sa, err)
				}
			}
			if n := count(t, db, "consents"); n != 3 {
				t.Fatalf("%d consents, want open, link, revoke", n)
			}
		})
		t.Run("OKRelinkKeepsSubaccount", func(t *testing.T) {
			sa, err := s.Link(ctx, "p1", "eleme")
			if err != nil || sa.ID != first.ID || !sa.Linked {
				t.Fatalf("relink = %+v %v", sa, err)
			}
			a, _ := s.Get(ctx, "p1")
			if len(a.Subaccounts) != 1 || a.Subaccounts[0].RevokedAt != nil {
				t.Fatalf("after relink: %+v", a.Subaccounts)
			}
		})
	})
}

func TestOpenConcurrently(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustSetup(t, db)
		var created atomic.Int32
		ids := make([]int64, 8)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, c, err := s.Open(ctx, "same", account.OpenRequest{EntryPoint: "search", ConsentVersion: "v1", Partners: []string{"eleme"}})
				if err != nil {
					t.Errorf("open: %v", err)
					return
				}
				if c {
					created.Add(1)
				}
				ids[i] = a.ID
			}()
		}
		wg.Wait()
		if created.Load() != 1 {
			t.Fatalf("%d opens created an account, want 1", created.Load())
		}
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("ids differ: %v", ids)
			}
		}
		if got := rows(t, db); got != [3]int{1, 1, 2} {
			t.Fatalf("rows = %v", got)
		}
	})
}
