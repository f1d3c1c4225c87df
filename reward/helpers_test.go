package reward_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/reward"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/webhook"
)

var comps = []store.Component{partner.Migrations, account.Migrations, ledger.Migrations, webhook.Migrations, reward.Migrations}

// env is a migrated database with partners eleme and cainiao, the account
// service and the reward service.
type env struct {
	tb       testing.TB
	db       *store.DB
	accounts *account.Service
	ledger   *ledger.Service
	rewards  *reward.Service
	grants   int
}

func newEnv(tb testing.TB, db *store.DB) *env {
	tb.Helper()
	ps, err := partner.NewService(db, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, id := range []string{"eleme", "cainiao"} {
		if _, err := ps.Register(context.Background(), partner.Registration{ID: id, Name: id, Scopes: partner.AllScopes}); err != nil {
			tb.Fatal(err)
		}
	}
	accts := account.NewService(db)
	rs := reward.NewService(db, accts)
	rs.Register(accts)
	return &env{tb: tb, db: db, accounts: accts, ledger: ledger.NewService(db, 0), rewards: rs}
}

// open opens person's account linked to eleme and cainiao.
func (e *env) open(person string) int64 {
	e.tb.Helper()
	a, _, err := e.accounts.Open(context.Background(), person, account.OpenRequest{EntryPoint: "search", ConsentVersion: "2026-01", Partners: []string{"eleme", "cainiao"}})
	if err != nil {
		e.tb.Fatal(err)
	}
	return a.ID
}

// fund grants points to person's sub-account of partnerID.
func (e *env) fund(person, partnerID string, points int64) {
	e.tb.Helper()
	e.grants++
	ref := fmt.Sprintf("test-grant:%s:%d", person, e.grants)
	err := e.db.InTx(context.Background(), func(tx *store.Tx) error {
		a, s, err := account.ResolveTx(context.Background(), tx, person, partnerID)
		if err != nil {
			return err
		}
		_, err = ledger.GrantTx(context.Background(), tx, ledger.Grant{Parent: a, Sub: s, Points: points, Ref: ref})
		return err
	})
	if err != nil {
		e.tb.Fatal(err)
	}
}

// points returns person's spendable points: the parent total ("") or one
// partner's sub-account.
func (e *env) points(person, partnerID string) int64 {
	e.tb.Helper()
	id, err := e.accounts.AccountID(context.Background(), person)
	if err != nil {
		e.tb.Fatal(err)
	}
	b, err := e.ledger.Balance(context.Background(), id)
	if err != nil {
		e.tb.Fatal(err)
	}
	if partnerID == "" {
		return b.Points
	}
	_, sub, err := e.accounts.Resolve(context.Background(), person, partnerID)
	if err != nil {
		e.tb.Fatal(err)
	}
	for _, s := range b.Subs {
		if s.Sub == sub {
			return s.Points
		}
	}
	return 0
}

func (e *env) merchant(id, partnerID string) {
	e.tb.Helper()
	if _, err := e.rewards.CreateMerchant(context.Background(), "", reward.Merchant{ID: id, Name: id, Partner: partnerID}); err != nil {
		e.tb.Fatal(err)
	}
}

func (e *env) offer(in reward.OfferInput) *reward.Offer {
	e.tb.Helper()
	o, err := e.rewards.CreateOffer(context.Background(), "", in)
	if err != nil {
		e.tb.Fatal(err)
	}
	return o
}

// check fails the test if the ledger's invariants do not hold.
func (e *env) check() {
	e.tb.Helper()
	ms, err := e.ledger.Check(context.Background())
	if err != nil {
		e.tb.Fatal(err)
	}
	for _, m := range ms {
		e.tb.Errorf("ledger: %s", m)
	}
}

func (e *env) count(q string, args ...any) int64 {
	e.tb.Helper()
	var n int64
	if err := e.db.Read().QueryRow(q, args...).Scan(&n); err != nil {
		e.tb.Fatal(err)
	}
	return n
}

func stock(n int64) *int64 { return &n }

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if oc.ErrorCode(err) != code {
		t.Fatalf("error = %v; want %s", err, code)
	}
}

var past = time.Now().Add(-48 * time.Hour)
