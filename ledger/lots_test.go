package ledger_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

func lots(t *testing.T, s *ledger.Service, parent int64) []ledger.Lot {
	t.Helper()
	ls, err := s.Expiring(context.Background(), parent, 100*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// remaining maps "sub@day" to a lot's remaining points.
func remaining(ls []ledger.Lot) map[string]int64 {
	out := map[string]int64{}
	for _, l := range ls {
		out[fmt.Sprintf("%d@%s", l.Sub, l.CreditedAt.Format("01-02"))] = l.Points
	}
	return out
}

func TestSpendOldestFirst(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sub   int64 // 0: parent total
		spend int64
		want  map[string]int64
	}{
		// Lots: A on 01-10 (3), B on 01-11 (4), A on 01-12 (5).
		{"ParentTotal/AcrossSubs", 0, 5, map[string]int64{"11@01-10": 0, "12@01-11": 2, "11@01-12": 5}},
		{"ParentTotal/All", 0, 12, map[string]int64{"11@01-10": 0, "12@01-11": 0, "11@01-12": 0}},
		{"SubOnly/A", A, 4, map[string]int64{"11@01-10": 0, "12@01-11": 4, "11@01-12": 4}},
		{"SubOnly/B", B, 4, map[string]int64{"11@01-10": 3, "12@01-11": 0, "11@01-12": 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
				s, clk := setup(t, db)
				credit(t, db, P, A, 3000, "a1")
				clk.now = t0.Add(24 * time.Hour)
				credit(t, db, P, B, 4000, "b1")
				clk.now = t0.Add(48 * time.Hour)
				credit(t, db, P, A, 5000, "a2")
				if _, err := spend(t, db, P, tc.sub, tc.spend, "s"); err != nil {
					t.Fatal(err)
				}
				got := remaining(lots(t, s, P))
				for k, v := range tc.want {
					if got[k] != v {
						t.Errorf("lot %s: %d remaining, want %d (all: %v)", k, got[k], v, got)
					}
				}
				mustCheck(t, s)
				t.Run("Refund", func(t *testing.T) {
					if _, err := inTx(t, db, func(tx *store.Tx) (int64, error) { return ledger.RefundTx(context.Background(), tx, "s", "rf") }); err != nil {
						t.Fatal(err)
					}
					got := remaining(lots(t, s, P))
					for k, v := range map[string]int64{"11@01-10": 3, "12@01-11": 4, "11@01-12": 5} {
						if got[k] != v {
							t.Errorf("lot %s after refund: %d, want %d (all: %v)", k, got[k], v, got)
						}
					}
					mustCheck(t, s)
				})
			})
		})
	}
}

func TestSpendInsufficient(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		s, _ := setup(t, db)
		credit(t, db, P, A, 3000, "a1")
		credit(t, db, P, B, 4000, "b1")
		for _, tc := range []struct {
			name   string
			sub    int64
			points int64
		}{
			{"ErrParentTotal", 0, 8},
			{"ErrSubOnly", A, 4},
			{"ErrUnknownParent", 0, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				parent := P
				if tc.name == "ErrUnknownParent" {
					parent = 999
				}
				_, err := spend(t, db, parent, tc.sub, tc.points, "s-"+tc.name)
				wantCode(t, err, oc.EInsufficientPoints)
			})
		}
		if b := balance(t, s, P); b.Points != 7 {
			t.Fatalf("points %d after refused spends, want 7", b.Points)
		}
		mustCheck(t, s)
	})
}

func TestExpiry(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := setup(t, db)
		credit(t, db, P, A, 3500, "a1") // 3 points, lot expires t0+365d rounded to midnight
		credit(t, db, Q, C, 2000, "c1")
		exp := t0.Add(30 * 24 * time.Hour)
		if _, err := inTx(t, db, func(tx *store.Tx) (int64, error) {
			return ledger.GrantTx(ctx, tx, ledger.Grant{Parent: P, Sub: B, Points: 10, Ref: "bonus", ExpiresAt: exp})
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := spend(t, db, P, B, 4, "s1"); err != nil {
			t.Fatal(err)
		}
		soon, err := s.Expiring(ctx, P, 31*24*time.Hour)
		if err != nil || len(soon) != 1 || soon[0].Points != 6 || !soon[0].ExpiresAt.Equal(exp) {
			t.Fatalf("expiring within 31 days: %+v, %v; want the bonus lot with 6 points", soon, err)
		}
		t.Run("NoticeOnce", func(t *testing.T) {
			for i, want := range []int{1, 0} {
				n, err := s.NotifyExpiring(ctx, exp.Add(-6*24*time.Hour), ledger.NoticeWindow)
				if err != nil || n != want {
					t.Fatalf("run %d: %d notices, %v; want %d", i, n, err, want)
				}
			}
			var topic string
			var body string
			if err := db.Read().QueryRowContext(ctx, `SELECT topic, body FROM outbox`).Scan(&topic, &body); err != nil {
				t.Fatal(err)
			}
			if topic != "points.expiring" {
				t.Fatalf("topic %q", topic)
			}
		})
		t.Run("BonusLot", func(t *testing.T) {
			n, pts, err := s.ExpireDue(ctx, exp)
			if err != nil || n != 1 || pts != 6 {
				t.Fatalf("expire: %d lots %d points %v; want 1 lot, 6 points", n, pts, err)
			}
			n, pts, err = s.ExpireDue(ctx, exp)
			if err != nil || n != 0 || pts != 0 {
				t.Fatalf("second run: %d lots %d points %v; want nothing", n, pts, err)
			}
			b := balance(t, s, P)
			if b.MG != 3500 || b.Points != 3 || sub(b, B).Points != 0 {
				t.Fatalf("balance after expiry: %+v", b)
			}
			mustCheck(t, s)
		})
		t.Run("NeverTouchesMG", func(t *testing.T) {
			clk.now = t0.Add(400 * 24 * time.Hour)
			n, pts, err := s.ExpireDue(ctx, clk.now)
			if err != nil || n != 2 || pts != 5 {
				t.Fatalf("expire: %d lots %d points %v; want 2 lots, 5 points", n, pts, err)
			}
			for _, tc := range []struct {
				parent, mg int64
			}{{P, 3500}, {Q, 2000}} {
				if b := balance(t, s, tc.parent); b.MG != tc.mg || b.Points != 0 {
					t.Errorf("account %d after expiry: %+v, want mg %d and 0 points", tc.parent, b, tc.mg)
				}
			}
			var mgPostings int
			if err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_postings p JOIN ledger_tx t ON t.id = p.tx_id
				WHERE t.kind = 'expiry' AND p.asset = 'mg'`).Scan(&mgPostings); err != nil || mgPostings != 0 {
				t.Fatalf("%d mg postings in expiries (%v)", mgPostings, err)
			}
			mustCheck(t, s)
		})
		t.Run("RefundAfterExpiry", func(t *testing.T) {
			// s1 took 4 points of the bonus lot, which has expired since:
			// the refund restores them and the next run expires them.
			if _, err := inTx(t, db, func(tx *store.Tx) (int64, error) { return ledger.RefundTx(ctx, tx, "s1", "rf1") }); err != nil {
				t.Fatal(err)
			}
			mustCheck(t, s)
			n, pts, err := s.ExpireDue(ctx, clk.now)
			if err != nil || n != 1 || pts != 4 {
				t.Fatalf("expire restored lot: %d lots %d points %v; want 1, 4", n, pts, err)
			}
			mustCheck(t, s)
		})
	})
}

func TestCheckFindsTampering(t *testing.T) {
	for _, tc := range []struct {
		name, sql, what string
	}{
		{"SubMG", `UPDATE ledger_balances SET mg = mg + 1 WHERE sub = 11`, "mg"},
		{"SubPoints", `UPDATE ledger_balances SET points = points + 1 WHERE sub = 11`, "points-debt"},
		{"ParentPoints", `UPDATE ledger_balances SET points = points - 1 WHERE parent = 1 AND sub = 0`, "parent points"},
		{"Lot", `UPDATE ledger_lots SET remaining = remaining + 2 WHERE sub = 12`, "lots"},
		{"Posting", `UPDATE ledger_postings SET amount = amount + 5 WHERE asset = 'mg'`, "mg"},
		// A batch credit's postings are its head's mg and points.
		{"BatchCreditMG", `UPDATE ledger_tx SET mg = mg + 5 WHERE mg IS NOT NULL`, "mg"},
		{"BatchCreditPoints", `UPDATE ledger_tx SET points = points + 1 WHERE points IS NOT NULL`, "points-debt"},
		{"BatchCreditPointsNull", `UPDATE ledger_tx SET points = NULL WHERE mg IS NOT NULL`, "points-debt"},
		{"BothForms", `UPDATE ledger_tx SET mg = 3000, points = 0 WHERE ref = 'a1'`, "transaction 1 has posting rows and postings in its head"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
				s, _ := setup(t, db)
				credit(t, db, P, A, 3000, "a1")
				credit(t, db, P, B, 4000, "b1")
				if _, err := inTx(t, db, func(tx *store.Tx) ([]ledger.CreditResult, error) {
					return ledger.CreditBatchTx(context.Background(), tx, []ledger.Credit{{Parent: 2, Sub: 21, MG: 2500, Ref: "batch1"}})
				}); err != nil {
					t.Fatal(err)
				}
				mustCheck(t, s)
				if _, err := db.Write().ExecContext(context.Background(), tc.sql); err != nil {
					t.Fatal(err)
				}
				ms, err := s.Check(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, m := range ms {
					found = found || m.What == tc.what
				}
				if !found {
					t.Fatalf("mismatches %v: want one about %q", ms, tc.what)
				}
			})
		})
	}
}

func TestEntries(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := setup(t, db)
		for i := range 7 {
			clk.now = t0.Add(time.Duration(i) * time.Minute)
			credit(t, db, P, A, 1500, fmt.Sprintf("c%d", i))
		}
		if _, err := spend(t, db, P, 0, 2, "s1"); err != nil {
			t.Fatal(err)
		}
		reverse(t, db, "c0", "rev-c0")
		var all []ledger.Entry
		cursor := ""
		for pages := 0; ; pages++ {
			page, next, err := s.Entries(ctx, P, cursor, 3)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if next == "" {
				break
			}
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			cursor = next
		}
		if len(all) != 9 {
			t.Fatalf("%d entries, want 9", len(all))
		}
		var mg, pts int64
		for i, e := range all {
			if i > 0 && (e.At.After(all[i-1].At) || (e.At.Equal(all[i-1].At) && e.ID > all[i-1].ID)) {
				t.Fatalf("entry %d not newest first", i)
			}
			mg, pts = mg+e.MG, pts+e.Points
		}
		b := balance(t, s, P)
		if mg != b.MG || pts != b.Points-b.Debt {
			t.Fatalf("entries sum to %d mg %d points; balance %+v", mg, pts, b)
		}
		if all[0].Kind != ledger.KindReversal || all[0].Note != "refunded order" || all[len(all)-1].CalcID != "calc-c0" {
			t.Fatalf("entries: first %+v last %+v", all[0], all[len(all)-1])
		}
		_, _, err := s.Entries(ctx, P, "garbage", 3)
		wantCode(t, err, oc.EInvalid)
	})
}

// TestConcurrentSpends races 200 spends of price points against a balance
// of n points: exactly n/price succeed and nothing goes negative.
func TestConcurrentSpends(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		s := ledger.NewService(db, 0)
		const n, price = 100, 3
		credit(t, db, P, A, 60_000, "a1")
		credit(t, db, P, B, 40_000, "b1")
		var ok, short atomic.Int64
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				sub := int64(0)
				if i%4 == 0 {
					sub = A
				}
				_, err := spend(t, db, P, sub, price, fmt.Sprintf("s%d", i))
				switch oc.ErrorCode(err) {
				case "":
					ok.Add(1)
				case oc.EInsufficientPoints:
					short.Add(1)
				default:
					t.Errorf("spend %d: %v", i, err)
				}
			})
		}
		// Credits keep arriving for other accounts and for P meanwhile.
		for i := range 20 {
			credit(t, db, Q, C, 999, fmt.Sprintf("q%d", i))
		}
		wg.Wait()
		if ok.Load() != n/price || short.Load() != 200-n/price {
			t.Fatalf("%d spends succeeded, %d refused; want %d and %d", ok.Load(), short.Load(), n/price, 200-n/price)
		}
		b := balance(t, s, P)
		if b.Points != n%price || b.Points < 0 {
			t.Fatalf("balance %+v: want %d points", b, n%price)
		}
		mustCheck(t, s)
	})
}

func TestExpireDueAlsoNotifies(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := setup(t, db)
		exp := t0.Add(3 * 24 * time.Hour)
		if _, err := inTx(t, db, func(tx *store.Tx) (int64, error) {
			return ledger.GrantTx(ctx, tx, ledger.Grant{Parent: P, Sub: A, Points: 7, Ref: "g", ExpiresAt: exp})
		}); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if n, _, err := s.ExpireDue(ctx, t0); err != nil || n != 0 {
				t.Fatalf("run %d: %d lots expired, %v; want none yet", i, n, err)
			}
		}
		var n int
		if err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE topic = 'points.expiring'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d notices (%v); want exactly 1", n, err)
		}
	})
}

// TestRunExpiry: the serve job expires due lots on its first run and
// stops when its context ends.
func TestRunExpiry(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		s, clk := setup(t, db)
		credit(t, db, P, A, 2000, "a1")
		clk.now = t0.Add(400 * 24 * time.Hour)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.RunExpiry(ctx, time.Hour); close(done) }()
		deadline := time.Now().Add(10 * time.Second)
		for balance(t, s, P).Points != 0 {
			if time.Now().After(deadline) {
				t.Fatal("lot not expired by the job")
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("RunExpiry did not stop")
		}
		if b := balance(t, s, P); b.MG != 2000 {
			t.Fatalf("balance %+v after expiry job", b)
		}
		mustCheck(t, s)
	})
}
