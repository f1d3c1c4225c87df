package ledger_test

import (
	"context"
	"testing"

	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

// TestMigrateOptionalRef: transactions written while every ref was
// required keep their refs through migration 3, which still refuses a
// repeated ref (CreditTx answers it with the first result), and credits
// without a ref can be added next to them.
func TestMigrateOptionalRef(t *testing.T) {
	eachBefore(t, 3, func(t *testing.T, db *store.DB, s *ledger.Service, migrate func()) {
		ctx := context.Background()
		first, err := inTx(t, db, func(tx *store.Tx) (ledger.CreditResult, error) {
			return ledger.CreditTx(ctx, tx, ledger.Credit{Parent: P, Sub: A, MG: 2500, Ref: "evt:eleme:old"})
		})
		if err != nil {
			t.Fatal(err)
		}
		migrate()
		again, err := inTx(t, db, func(tx *store.Tx) (ledger.CreditResult, error) {
			return ledger.CreditTx(ctx, tx, ledger.Credit{Parent: P, Sub: A, MG: 2500, Ref: "evt:eleme:old"})
		})
		if err != nil || again != first {
			t.Fatalf("repeat after migration: %+v %v; want %+v", again, err, first)
		}
		if _, err := inTx(t, db, func(tx *store.Tx) ([]ledger.CreditResult, error) {
			return ledger.CreditBatchTx(ctx, tx, []ledger.Credit{{Parent: P, Sub: A, MG: 1000, Ref: "evt:eleme:old", NewRef: true}})
		}); !store.IsUniqueViolation(err) {
			t.Fatalf("a stored ref marked new after migration: %v; want a unique violation", err)
		}
		r, err := inTx(t, db, func(tx *store.Tx) ([]ledger.CreditResult, error) {
			return ledger.CreditBatchTx(ctx, tx, []ledger.Credit{{Parent: P, Sub: A, MG: 1000, NewRef: true}})
		})
		if err != nil || r[0].TxID <= first.TxID || r[0].Points != 1 {
			t.Fatalf("credit without a ref after migration: %+v %v", r, err)
		}
		es, _, err := s.Entries(ctx, P, "", 10)
		if err != nil || len(es) != 2 || es[0].Ref != "" || es[1].Ref != "evt:eleme:old" {
			t.Fatalf("entries: %+v %v", es, err)
		}
		mustCheck(t, s)
	})
}

// TestMigrateCreditAmounts: credits written before migration 5 keep their
// posting rows (written here by CreditTx, which still writes rows, as
// CreditBatchTx did then), batch credits written after hold their
// postings in their heads, and a ledger holding both reads the same
// amounts from either (entries, a repeat, a reversal, Check).
func TestMigrateCreditAmounts(t *testing.T) {
	eachBefore(t, 5, func(t *testing.T, db *store.DB, s *ledger.Service, migrate func()) {
		ctx := context.Background()
		batch := func(mg int64, ref string) ledger.CreditResult { return batchCredit(t, db, P, A, mg, ref) }
		before := credit(t, db, P, A, 2500, "before")
		migrate()
		after := batch(1700, "after")
		if before.Points != 2 || after.Points != 2 {
			t.Fatalf("points %d and %d; want 2 and 2", before.Points, after.Points)
		}
		for _, tc := range []struct {
			id   int64
			rows int
		}{{before.TxID, 2}, {after.TxID, 0}} {
			var n int
			if err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_postings WHERE tx_id = $1`, tc.id).Scan(&n); err != nil || n != tc.rows {
				t.Fatalf("transaction %d: %d posting rows (%v); want %d", tc.id, n, err, tc.rows)
			}
		}
		if again := batch(2500, "before"); again != before {
			t.Fatalf("repeat of an old credit: %+v; want %+v", again, before)
		}
		reverse(t, db, "before", "rev:before")
		reverse(t, db, "after", "rev:after")
		es, _, err := s.Entries(ctx, P, "", 10)
		if err != nil || len(es) != 4 {
			t.Fatalf("entries: %+v %v", es, err)
		}
		// Points follow the cumulative reduction: 4,200 mg → 1,700 → 0.
		want := []struct {
			kind       string
			mg, points int64
		}{{"reversal", -1700, -1}, {"reversal", -2500, -3}, {"credit", 1700, 2}, {"credit", 2500, 2}}
		for i, w := range want {
			if e := es[i]; e.Kind != w.kind || e.MG != w.mg || e.Points != w.points {
				t.Fatalf("entry %d: %+v; want %+v", i, e, w)
			}
		}
		if b := balance(t, s, P); b.MG != 0 || b.Points != 0 || b.Debt != 0 {
			t.Fatalf("balance after both reversals: %+v", b)
		}
		mustCheck(t, s)
	})
}

// TestMigrateDebtNull: after migration 7 a batch credit that repays no
// debt stores its debt as NULL on PostgreSQL (0 on SQLite, and before the
// migration); one that repays debt stores the amount. Entries, repeats,
// reversals (found again by orig) and check read all three alike.
func TestMigrateDebtNull(t *testing.T) {
	eachBefore(t, 7, func(t *testing.T, db *store.DB, s *ledger.Service, migrate func()) {
		ctx := context.Background()
		batch := func(mg int64, ref string) ledger.CreditResult { return batchCredit(t, db, P, A, mg, ref) }
		// Written as the schema before allows: a debt of 0, not NULL.
		before := credit(t, db, P, A, 5000, "before")
		migrate()
		// 5 points, 4 spent, then the credit reversed: 4 points of debt.
		if _, err := spend(t, db, P, 0, 4, "s1"); err != nil {
			t.Fatal(err)
		}
		reverse(t, db, "before", "rev:before")
		repays := batch(3000, "repays") // 3 points, all to the debt
		plain := batch(2000, "plain")   // 1 point to the debt, 1 spendable
		if repays.DebtRepaid != 3 || plain.Points != 2 || plain.DebtRepaid != 1 {
			t.Fatalf("repaying credits: %+v %+v", repays, plain)
		}
		clear := batch(1000, "clear") // no debt left to repay
		if clear.Points != 1 || clear.DebtRepaid != 0 {
			t.Fatalf("credit after the debt: %+v", clear)
		}
		wantNull := map[store.Dialect]int{store.SQLite: 0, store.Postgres: 1}[db.Dialect]
		var nulls int
		if err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_tx WHERE debt IS NULL`).Scan(&nulls); err != nil || nulls != wantNull {
			t.Fatalf("%d transactions with a NULL debt (%v); want %d", nulls, err, wantNull)
		}
		for ref, want := range map[string]ledger.CreditResult{"before": before, "repays": repays, "clear": clear} {
			if again := batch(map[string]int64{"before": 5000, "repays": 3000, "clear": 1000}[ref], ref); again != want {
				t.Fatalf("repeat of %s: %+v; want %+v", ref, again, want)
			}
		}
		// Reversing clear takes back its point; reversing it again finds
		// the reversal by orig and answers the same.
		first := reverse(t, db, "clear", "rev:clear")
		if second := reverse(t, db, "clear", "rev:clear2"); second != first || first.Points != 1 || first.Debt != 0 {
			t.Fatalf("reversals of clear: %+v then %+v", first, second)
		}
		es, _, err := s.Entries(ctx, P, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		debts := map[string]int64{}
		for _, e := range es {
			debts[e.Kind+":"+e.Ref] += e.Debt
		}
		if debts["credit:repays"] != 3 || debts["credit:plain"] != 1 || debts["credit:clear"] != 0 || debts["reversal:rev:before"] != 4 {
			t.Fatalf("entries' debts: %v (%+v)", debts, es)
		}
		mustCheck(t, s)
	})
}

// batchCredit credits mg to sub of parent with CreditBatchTx, a batch of one.
func batchCredit(t *testing.T, db *store.DB, parent, sub, mg int64, ref string) ledger.CreditResult {
	t.Helper()
	r, err := inTx(t, db, func(tx *store.Tx) ([]ledger.CreditResult, error) {
		return ledger.CreditBatchTx(context.Background(), tx, []ledger.Credit{{Parent: parent, Sub: sub, MG: mg, Ref: ref}})
	})
	if err != nil {
		t.Fatalf("batch credit %s: %v", ref, err)
	}
	return r[0]
}

// eachBefore runs fn on both dialects with the ledger's migrations before
// version applied; fn calls migrate to apply the rest.
func eachBefore(t *testing.T, version int, fn func(t *testing.T, db *store.DB, s *ledger.Service, migrate func())) {
	old := storetest.Before(t, ledger.Migrations, version)
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Open(t, d, webhook.Migrations, old)
			s, _ := setup(t, db)
			fn(t, db, s, func() {
				if err := db.Migrate(context.Background(), ledger.Migrations); err != nil {
					t.Fatalf("migrate from version %d: %v", version, err)
				}
			})
		})
	}
}
