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
	old := storetest.Before(t, ledger.Migrations, 3)
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db := storetest.Open(t, d, webhook.Migrations, old)
			s, _ := setup(t, db)
			first, err := inTx(t, db, func(tx *store.Tx) (ledger.CreditResult, error) {
				return ledger.CreditTx(ctx, tx, ledger.Credit{Parent: P, Sub: A, MG: 2500, Ref: "evt:eleme:old"})
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx, ledger.Migrations); err != nil {
				t.Fatalf("migrate to version 3: %v", err)
			}
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
}
