package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

var comps = []store.Component{webhook.Migrations, ledger.Migrations}

// Fake account ids: parent P has sub-accounts A and B; parent Q has C.
const (
	P, A, B = int64(1), int64(11), int64(12)
	Q, C    = int64(2), int64(21)
)

var t0 = time.Date(2026, 1, 10, 8, 0, 0, 0, time.UTC)

// setup returns a service on db with the clock at t0.
func setup(t *testing.T, db *store.DB) (*ledger.Service, *clock) {
	t.Helper()
	c := &clock{now: t0}
	db.Now = c.Now
	return ledger.NewService(db, 0), c
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func inTx[T any](t *testing.T, db *store.DB, fn func(tx *store.Tx) (T, error)) (T, error) {
	t.Helper()
	var out T
	err := db.InTx(context.Background(), func(tx *store.Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	return out, err
}

func credit(t *testing.T, db *store.DB, parent, sub, mg int64, ref string) ledger.CreditResult {
	t.Helper()
	r, err := inTx(t, db, func(tx *store.Tx) (ledger.CreditResult, error) {
		return ledger.CreditTx(context.Background(), tx, ledger.Credit{Parent: parent, Sub: sub, MG: mg, Ref: ref, CalcID: "calc-" + ref})
	})
	if err != nil {
		t.Fatalf("credit %s: %v", ref, err)
	}
	return r
}

func spend(t *testing.T, db *store.DB, parent, sub, points int64, ref string) (int64, error) {
	t.Helper()
	return inTx(t, db, func(tx *store.Tx) (int64, error) {
		return ledger.SpendTx(context.Background(), tx, ledger.Spend{Parent: parent, Sub: sub, Points: points, Ref: ref, Kind: "redemption"})
	})
}

func reverse(t *testing.T, db *store.DB, ref, revRef string) ledger.Reversal {
	t.Helper()
	r, err := inTx(t, db, func(tx *store.Tx) (ledger.Reversal, error) {
		return ledger.ReverseTx(context.Background(), tx, ref, revRef, "refunded order")
	})
	if err != nil {
		t.Fatalf("reverse %s: %v", ref, err)
	}
	return r
}

func balance(t *testing.T, s *ledger.Service, parent int64) ledger.Balance {
	t.Helper()
	b, err := s.Balance(context.Background(), parent)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sub(b ledger.Balance, id int64) ledger.SubBalance {
	for _, s := range b.Subs {
		if s.Sub == id {
			return s
		}
	}
	return ledger.SubBalance{Sub: id}
}

// mustCheck fails t if Check reports anything.
func mustCheck(t *testing.T, s *ledger.Service) {
	t.Helper()
	ms, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		t.Errorf("check: %s", m)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if oc.ErrorCode(err) != code {
		t.Fatalf("error %v: want code %s", err, code)
	}
}

func TestPointsScheme(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		rng := rand.New(rand.NewPCG(1, 2))
		random := make([]int64, 200)
		for i := range random {
			random[i] = 1 + rng.Int64N(2500)
		}
		for _, tc := range []struct {
			name    string
			parent  int64
			sub     int64
			credits []int64
		}{
			{"OK/Whole", 100, 1001, []int64{1000, 2000, 3000}},
			{"OK/RemainderCarried", 101, 1011, []int64{300, 300, 300, 300, 999, 1, 1}},
			{"OK/SubMilligram", 102, 1021, []int64{1, 1, 1}},
			{"OK/Random", 103, 1031, random},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, _ := setup(t, db)
				var total, pts int64
				for i, mg := range tc.credits {
					r := credit(t, db, tc.parent, tc.sub, mg, fmt.Sprintf("%s-%d", tc.name, i))
					total += mg
					pts += r.Points
					if r.Points != total/1000-(total-mg)/1000 {
						t.Fatalf("credit %d of %d mg: %d points, want %d", i, mg, r.Points, total/1000-(total-mg)/1000)
					}
				}
				if pts != total/1000 {
					t.Fatalf("points %d for %d mg: want %d", pts, total, total/1000)
				}
				b := balance(t, s, tc.parent)
				if b.MG != total || b.Points != pts || sub(b, tc.sub).Points != pts {
					t.Fatalf("balance %+v: want mg %d points %d", b, total, pts)
				}
				mustCheck(t, s)
			})
		}
	})
}

func TestInvalid(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		setup(t, db)
		ctx := context.Background()
		for _, tc := range []struct {
			name string
			fn   func(tx *store.Tx) error
		}{
			{"ErrZeroMG", func(tx *store.Tx) error {
				_, err := ledger.CreditTx(ctx, tx, ledger.Credit{Parent: P, Sub: A, MG: 0, Ref: "x"})
				return err
			}},
			{"ErrNoSub", func(tx *store.Tx) error {
				_, err := ledger.CreditTx(ctx, tx, ledger.Credit{Parent: P, MG: 5, Ref: "x"})
				return err
			}},
			{"ErrEmptyRef", func(tx *store.Tx) error {
				_, err := ledger.CreditTx(ctx, tx, ledger.Credit{Parent: P, Sub: A, MG: 5})
				return err
			}},
			{"ErrPastExpiry", func(tx *store.Tx) error {
				_, err := ledger.GrantTx(ctx, tx, ledger.Grant{Parent: P, Sub: A, Points: 5, Ref: "g", ExpiresAt: t0.Add(-time.Hour)})
				return err
			}},
			{"ErrNegativeSpend", func(tx *store.Tx) error {
				_, err := ledger.SpendTx(ctx, tx, ledger.Spend{Parent: P, Points: -1, Ref: "s"})
				return err
			}},
			{"ErrNoReason", func(tx *store.Tx) error {
				_, err := ledger.ReverseTx(ctx, tx, "x", "rx", "")
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantCode(t, db.InTx(ctx, tc.fn), oc.EInvalid)
			})
		}
		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := inTx(t, db, func(tx *store.Tx) (ledger.Reversal, error) {
				return ledger.ReverseTx(ctx, tx, "nope", "r-nope", "fraud")
			})
			wantCode(t, err, oc.ENotFound)
			_, err = inTx(t, db, func(tx *store.Tx) (int64, error) { return ledger.RefundTx(ctx, tx, "nope", "rf-nope") })
			wantCode(t, err, oc.ENotFound)
		})
		t.Run("ErrConflictingRef", func(t *testing.T) {
			credit(t, db, P, A, 1000, "c-conf")
			_, err := spend(t, db, P, 0, 1, "c-conf")
			wantCode(t, err, oc.EConflict)
		})
	})
}

func TestIdempotent(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		s, _ := setup(t, db)
		ctx := context.Background()
		first := credit(t, db, P, A, 2500, "c1")
		again := credit(t, db, P, A, 2500, "c1")
		if first != again {
			t.Fatalf("second credit %+v, want %+v", again, first)
		}
		credit(t, db, P, A, 2500, "c2")
		if b := balance(t, s, P); b.MG != 5000 || b.Points != 5 {
			t.Fatalf("balance after duplicate credit: %+v", b)
		}
		t.Run("Spend", func(t *testing.T) {
			id1, err := spend(t, db, P, 0, 2, "s1")
			if err != nil {
				t.Fatal(err)
			}
			id2, err := spend(t, db, P, 0, 2, "s1")
			if err != nil || id2 != id1 {
				t.Fatalf("second spend: %d, %v; want %d", id2, err, id1)
			}
			if b := balance(t, s, P); b.Points != 3 {
				t.Fatalf("points %d after duplicate spend, want 3", b.Points)
			}
		})
		t.Run("Refund", func(t *testing.T) {
			ids := map[int64]bool{}
			for _, ref := range []string{"r1", "r1", "r1-other"} {
				id, err := inTx(t, db, func(tx *store.Tx) (int64, error) { return ledger.RefundTx(ctx, tx, "s1", ref) })
				if err != nil {
					t.Fatal(err)
				}
				ids[id] = true
			}
			if len(ids) != 1 {
				t.Fatalf("refund ids %v: want one", ids)
			}
			if b := balance(t, s, P); b.Points != 5 {
				t.Fatalf("points %d after refunds, want 5", b.Points)
			}
		})
		t.Run("Reversal", func(t *testing.T) {
			r1 := reverse(t, db, "c2", "rev-c2")
			r2 := reverse(t, db, "c2", "rev-c2")
			r3 := reverse(t, db, "c2", "rev-c2-again")
			if r1 != r2 || r1 != r3 {
				t.Fatalf("reversals %+v %+v %+v: want the same", r1, r2, r3)
			}
			if r1.MG != 2500 || r1.Points != 3 || r1.Debt != 0 {
				t.Fatalf("reversal %+v: want 2500 mg, 3 points (floor(5000/1000)-floor(2500/1000))", r1)
			}
			if b := balance(t, s, P); b.MG != 2500 || b.Points != 2 {
				t.Fatalf("balance after reversal: %+v", b)
			}
		})
		mustCheck(t, s)
	})
}

func TestReversalDebt(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		s, _ := setup(t, db)
		credit(t, db, P, A, 5000, "c1")
		if _, err := spend(t, db, P, 0, 4, "s1"); err != nil {
			t.Fatal(err)
		}
		rv := reverse(t, db, "c1", "rev1")
		if rv.MG != 5000 || rv.Points != 1 || rv.Debt != 4 {
			t.Fatalf("reversal %+v: want 5000 mg, 1 point, 4 debt", rv)
		}
		b := balance(t, s, P)
		if b.MG != 0 || b.Points != 0 || b.Debt != 4 || sub(b, A).Debt != 4 {
			t.Fatalf("balance after reversal: %+v", b)
		}
		mustCheck(t, s)
		t.Run("ErrNoNegativeSpendable", func(t *testing.T) {
			_, err := spend(t, db, P, 0, 1, "s2")
			wantCode(t, err, oc.EInsufficientPoints)
		})
		t.Run("RepaidFirst", func(t *testing.T) {
			for _, tc := range []struct {
				mg, points, repaid, wantPoints, wantDebt int64
			}{
				{3000, 3, 3, 0, 1},
				{2500, 2, 1, 1, 0},
				{500, 1, 0, 2, 0},
			} {
				r := credit(t, db, P, A, tc.mg, fmt.Sprintf("c-%d", tc.mg))
				if r.Points != tc.points || r.DebtRepaid != tc.repaid {
					t.Fatalf("credit %d: %+v, want %d points, %d repaid", tc.mg, r, tc.points, tc.repaid)
				}
				b := balance(t, s, P)
				if b.Points != tc.wantPoints || b.Debt != tc.wantDebt {
					t.Fatalf("after credit %d: %+v, want %d points %d debt", tc.mg, b, tc.wantPoints, tc.wantDebt)
				}
				mustCheck(t, s)
			}
		})
		t.Run("GrantRepays", func(t *testing.T) {
			credit(t, db, P, B, 3000, "cb")
			if _, err := spend(t, db, P, B, 3, "sb"); err != nil {
				t.Fatal(err)
			}
			reverse(t, db, "cb", "rev-cb")
			id, err := inTx(t, db, func(tx *store.Tx) (int64, error) {
				return ledger.GrantTx(context.Background(), tx, ledger.Grant{Parent: P, Sub: B, Points: 5, Ref: "g1"})
			})
			if err != nil || id == 0 {
				t.Fatal(err)
			}
			if got := sub(balance(t, s, P), B); got.Points != 2 || got.Debt != 0 {
				t.Fatalf("sub B after grant: %+v, want 2 points", got)
			}
			mustCheck(t, s)
		})
	})
}

// TestDebtHoldsBackPlatformSpends: debt in one sub-account lowers what the
// parent total can spend, but not a partner mall's own sub-account.
func TestDebtHoldsBackPlatformSpends(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		s, _ := setup(t, db)
		credit(t, db, P, A, 4000, "a1")
		if _, err := spend(t, db, P, A, 4, "sa"); err != nil {
			t.Fatal(err)
		}
		reverse(t, db, "a1", "rev-a1")  // A: debt 4
		credit(t, db, P, B, 6000, "b1") // B: 6 points
		if b := balance(t, s, P); b.Points != 6 || b.Debt != 4 {
			t.Fatalf("balance %+v: want 6 points, 4 debt", b)
		}
		for _, tc := range []struct {
			name   string
			sub    int64
			points int64
			code   string
		}{
			{"ErrParentTotalNetOfDebt", 0, 3, oc.EInsufficientPoints},
			{"ParentTotalNet", 0, 2, ""},
			{"SubOnlyUnaffected", B, 4, ""},
			{"ErrSubInDebt", A, 1, oc.EInsufficientPoints},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := spend(t, db, P, tc.sub, tc.points, "s-"+tc.name)
				wantCode(t, err, tc.code)
			})
		}
		mustCheck(t, s)
	})
}
