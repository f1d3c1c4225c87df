package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestCreditBatchSameAsOneByOne applies the same random history (credits
// with repeated refs inside and across batches, spends and reversals that
// leave debts) to two disjoint sets of accounts, one through CreditTx and
// one through CreditBatchTx, and expects identical results and balances.
func TestCreditBatchSameAsOneByOne(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := setup(t, db)
		rng := rand.New(rand.NewPCG(7, 9))
		const offset = 1000 // world 2 uses parent+offset, sub+offset
		type op struct {
			parent, sub, mg int64
			ref             string
		}
		for round, size := range []int{60, 1000, 60, 850, 60, 60} { // 1000 and 850 span several SQL chunks
			var batch []op
			for i := range size {
				p := 1 + rng.Int64N(4)
				o := op{parent: p, sub: p*10 + rng.Int64N(2), mg: 1 + rng.Int64N(3000), ref: fmt.Sprintf("r%d-%d", round, i)}
				if i > 0 && rng.IntN(8) == 0 {
					o = batch[rng.IntN(len(batch))] // repeated inside the batch
				}
				if round > 0 && rng.IntN(10) == 0 {
					o.ref = fmt.Sprintf("r%d-%d", round-1, rng.IntN(60)) // repeated from an earlier batch
				}
				batch = append(batch, o)
			}
			var one []ledger.CreditResult
			_, err := inTx(t, db, func(tx *store.Tx) (int, error) {
				one = one[:0]
				for _, o := range batch {
					r, err := ledger.CreditTx(ctx, tx, ledger.Credit{Parent: o.parent, Sub: o.sub, MG: o.mg, Ref: "w1:" + o.ref})
					if err != nil {
						return 0, err
					}
					one = append(one, r)
				}
				return 0, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			cs := make([]ledger.Credit, len(batch))
			for i, o := range batch {
				cs[i] = ledger.Credit{Parent: o.parent + offset, Sub: o.sub + offset, MG: o.mg, Ref: "w2:" + o.ref}
			}
			many, err := inTx(t, db, func(tx *store.Tx) ([]ledger.CreditResult, error) { return ledger.CreditBatchTx(ctx, tx, cs) })
			if err != nil {
				t.Fatal(err)
			}
			for i := range batch {
				a, b := one[i], many[i]
				if a.Points != b.Points || a.DebtRepaid != b.DebtRepaid || b.TxID == 0 {
					t.Fatalf("round %d credit %d (%s): one by one %+v, batch %+v", round, i, batch[i].ref, a, b)
				}
			}
			for p := int64(1); p <= 4; p++ {
				a, b := balance(t, s, p), balance(t, s, p+offset)
				for j := range a.Subs {
					b.Subs[j].Sub -= offset
				}
				if fmt.Sprint(a) != fmt.Sprint(b) {
					t.Fatalf("round %d account %d after credits: one by one %+v, batch %+v", round, p, a, b)
				}
			}
			// Spend some and reverse a credit in both worlds, leaving debts.
			for w, off := range []int64{0, offset} {
				for p := int64(1); p <= 4; p++ {
					if b := balance(t, s, p+off); b.Points > 2 {
						if _, err := spend(t, db, p+off, 0, b.Points-1, fmt.Sprintf("w%d:s%d-%d", w+1, round, p)); err != nil {
							t.Fatal(err)
						}
					}
				}
				reverse(t, db, fmt.Sprintf("w%d:%s", w+1, batch[3].ref), fmt.Sprintf("w%d:rev%d", w+1, round))
			}
		}
		for p := int64(1); p <= 4; p++ {
			a, b := balance(t, s, p), balance(t, s, p+offset)
			if a.MG != b.MG || a.Points != b.Points || a.Debt != b.Debt || len(a.Subs) != len(b.Subs) {
				t.Fatalf("account %d: one by one %+v, batch %+v", p, a, b)
			}
			// The entries read a batch credit's postings from its head (a
			// reversal's and a spend's from rows) and show the same amounts.
			ea, _, err := s.Entries(ctx, p, "", ledger.MaxEntries)
			if err != nil {
				t.Fatal(err)
			}
			eb, _, err := s.Entries(ctx, p+offset, "", ledger.MaxEntries)
			if err != nil {
				t.Fatal(err)
			}
			if len(ea) != len(eb) {
				t.Fatalf("account %d: %d entries one by one, %d batch", p, len(ea), len(eb))
			}
			for j := range ea {
				a, b := ea[j], eb[j]
				if b.Sub != 0 {
					b.Sub -= offset
				}
				if a.Kind != b.Kind || a.MG != b.MG || a.Points != b.Points || a.Debt != b.Debt || a.Sub != b.Sub {
					t.Fatalf("account %d entry %d: one by one %+v, batch %+v", p, j, a, b)
				}
			}
		}
		// World 2's credits wrote no posting rows.
		var rows int
		if err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_postings p JOIN ledger_tx t ON t.id = p.tx_id
			WHERE t.kind = 'credit' AND t.parent > $1`, offset).Scan(&rows); err != nil || rows != 0 {
			t.Fatalf("%d posting rows for batch credits (%v)", rows, err)
		}
		mustCheck(t, s)
	})
}

func TestCreditBatchInvalid(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		s, _ := setup(t, db)
		_, err := inTx(t, db, func(tx *store.Tx) ([]ledger.CreditResult, error) {
			return ledger.CreditBatchTx(context.Background(), tx, []ledger.Credit{
				{Parent: P, Sub: A, MG: 1000, Ref: "ok"},
				{Parent: P, Sub: A, MG: -5, Ref: "bad"},
			})
		})
		wantCode(t, err, oc.EInvalid)
		if b := balance(t, s, P); b.MG != 0 {
			t.Fatalf("balance %+v after a refused batch", b)
		}
	})
}

// TestCreditBatchNewRef: a credit marked NewRef is not looked up first,
// but a ref that exists after all still fails the batch (the unique
// index), and nothing of it is written.
func TestCreditBatchNewRef(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		s, _ := setup(t, db)
		credit := func(cs ...ledger.Credit) ([]ledger.CreditResult, error) {
			return inTx(t, db, func(tx *store.Tx) ([]ledger.CreditResult, error) {
				return ledger.CreditBatchTx(context.Background(), tx, cs)
			})
		}
		if r, err := credit(ledger.Credit{Parent: P, Sub: A, MG: 2500, Ref: "n1", NewRef: true}); err != nil || r[0].TxID == 0 || r[0].Points != 2 {
			t.Fatalf("new ref: %+v %v", r, err)
		}
		if _, err := credit(ledger.Credit{Parent: P, Sub: A, MG: 1000, Ref: "n2", NewRef: true},
			ledger.Credit{Parent: P, Sub: A, MG: 1000, Ref: "n1", NewRef: true}); err == nil || !store.IsUniqueViolation(err) {
			t.Fatalf("a repeated ref marked new: %v; want a unique violation", err)
		}
		if b := balance(t, s, P); b.MG != 2500 {
			t.Fatalf("balance %+v after the refused batch; want 2500 mg", b)
		}
		// Without NewRef the repeat is answered with the first result.
		if r, err := credit(ledger.Credit{Parent: P, Sub: A, MG: 2500, Ref: "n1"}); err != nil || r[0].Points != 2 {
			t.Fatalf("repeat: %+v %v", r, err)
		}
	})
}

// TestCreditBatchWithoutRef: credits marked NewRef with an empty Ref are
// stored without a ref, several in one batch, with the results and
// balances of credits with refs; ReverseIDTx reverses one by its id,
// once; a credit without a ref is refused without NewRef and by CreditTx.
func TestCreditBatchWithoutRef(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := setup(t, db)
		credit := func(cs ...ledger.Credit) ([]ledger.CreditResult, error) {
			return inTx(t, db, func(tx *store.Tx) ([]ledger.CreditResult, error) {
				return ledger.CreditBatchTx(ctx, tx, cs)
			})
		}
		r, err := credit(ledger.Credit{Parent: P, Sub: A, MG: 1500, NewRef: true},
			ledger.Credit{Parent: P, Sub: A, MG: 1500, Ref: "named", NewRef: true},
			ledger.Credit{Parent: P, Sub: B, MG: 700, NewRef: true})
		if err != nil {
			t.Fatal(err)
		}
		if r[0].TxID == 0 || r[2].TxID == 0 || r[0].TxID == r[2].TxID || r[0].Points != 1 || r[1].Points != 2 || r[2].Points != 0 {
			t.Fatalf("results %+v", r)
		}
		var unnamed int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM ledger_tx WHERE ref IS NULL AND kind = 'credit'`).Scan(&unnamed); err != nil || unnamed != 2 {
			t.Fatalf("%d credits without a ref (%v); want 2", unnamed, err)
		}
		if b := balance(t, s, P); b.MG != 3700 || b.Points != 3 {
			t.Fatalf("balance %+v", b)
		}
		// Sub A holds 3000 mg (3 points): taking 1500 back leaves 1 point.
		for range 2 { // the second reversal returns the first
			rv, err := inTx(t, db, func(tx *store.Tx) (ledger.Reversal, error) {
				return ledger.ReverseIDTx(ctx, tx, r[0].TxID, "rev:unnamed", "test")
			})
			if err != nil || rv.MG != 1500 || rv.Points != 2 {
				t.Fatalf("reverse by id: %+v %v", rv, err)
			}
		}
		if b := balance(t, s, P); b.MG != 2200 || b.Points != 1 {
			t.Fatalf("balance after the reversal %+v", b)
		}
		if _, err := inTx(t, db, func(tx *store.Tx) (ledger.Reversal, error) {
			return ledger.ReverseIDTx(ctx, tx, 1<<40, "rev:none", "test")
		}); oc.ErrorCode(err) != oc.ENotFound {
			t.Fatalf("reverse a missing id: %v", err)
		}
		if _, err := credit(ledger.Credit{Parent: P, Sub: A, MG: 1000}); oc.ErrorCode(err) != oc.EInvalid {
			t.Fatalf("no ref without NewRef: %v", err)
		}
		if _, err := inTx(t, db, func(tx *store.Tx) (ledger.CreditResult, error) {
			return ledger.CreditTx(ctx, tx, ledger.Credit{Parent: P, Sub: A, MG: 1000, NewRef: true})
		}); oc.ErrorCode(err) != oc.EInvalid {
			t.Fatalf("CreditTx without a ref: %v", err)
		}
		mustCheck(t, s)
	})
}

// TestCreditBatchConcurrent runs batches of credits for overlapping
// accounts (in shuffled order) alongside spends and single credits: no
// error, no deadlock left unresolved, and Check clean.
func TestCreditBatchConcurrent(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := ledger.NewService(db, 0)
		var wg sync.WaitGroup
		var spent atomic.Int64
		for w := range 4 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 1))
				for b := range 5 {
					cs := make([]ledger.Credit, 100)
					for i := range cs {
						p := 1 + rng.Int64N(20)
						cs[i] = ledger.Credit{Parent: p, Sub: 100 + p, MG: 500 + rng.Int64N(2000), Ref: fmt.Sprintf("w%d-b%d-%d", w, b, i)}
					}
					err := db.InTx(ctx, func(tx *store.Tx) error {
						_, err := ledger.CreditBatchTx(ctx, tx, cs)
						return err
					})
					if err != nil {
						t.Errorf("batch %d/%d: %v", w, b, err)
					}
				}
			})
		}
		for i := range 40 {
			wg.Go(func() {
				_, err := spend(t, db, 1+int64(i%20), 0, 2, fmt.Sprintf("s%d", i))
				switch oc.ErrorCode(err) {
				case "":
					spent.Add(2)
				case oc.EInsufficientPoints:
				default:
					t.Errorf("spend %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		var total int64
		for p := int64(1); p <= 20; p++ {
			b := balance(t, s, p)
			total += b.MG/1000 - b.Points
		}
		if total != spent.Load() {
			t.Fatalf("points issued minus held = %d, spent %d", total, spent.Load())
		}
		mustCheck(t, s)
	})
}
