package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestReversalsRaceSpends reverses half of an account's credits while
// spends and new credits run against it: whatever the interleaving, points
// never go negative, points − debt is floor(mg/1000) minus what was spent,
// and Check is clean.
func TestReversalsRaceSpends(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := ledger.NewService(db, 0)
		for i := range 40 {
			credit(t, db, P, A+int64(i%2), 1700, fmt.Sprintf("c%d", i))
		}
		var spent atomic.Int64
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				_, err := inTx(t, db, func(tx *store.Tx) (ledger.Reversal, error) {
					return ledger.ReverseTx(ctx, tx, fmt.Sprintf("c%d", 2*i), fmt.Sprintf("rev%d", i), "fraud")
				})
				if err != nil {
					t.Errorf("reverse %d: %v", i, err)
				}
			})
			wg.Go(func() {
				_, err := spend(t, db, P, 0, 3, fmt.Sprintf("s%d", i))
				switch oc.ErrorCode(err) {
				case "":
					spent.Add(3)
				case oc.EInsufficientPoints:
				default:
					t.Errorf("spend %d: %v", i, err)
				}
			})
			wg.Go(func() { credit(t, db, P, B, 600, fmt.Sprintf("n%d", i)) })
		}
		wg.Wait()
		b := balance(t, s, P)
		var want int64
		for _, sb := range b.Subs {
			want += sb.MG / 1000
		}
		if b.Points < 0 || b.Debt < 0 || b.Points-b.Debt != want-spent.Load() {
			t.Fatalf("balance %+v: points − debt want %d (issued %d, spent %d)", b, want-spent.Load(), want, spent.Load())
		}
		mustCheck(t, s)
	})
}

func TestExport(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := setup(t, db)
		for i := range 3 {
			credit(t, db, P, A, 1200, fmt.Sprintf("c%d", i))
		}
		credit(t, db, Q, C, 5000, "other")
		if _, err := spend(t, db, P, 0, 1, "s"); err != nil {
			t.Fatal(err)
		}
		got, err := s.Export(ctx, P)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		var ex ledger.AccountExport
		if err := json.Unmarshal(raw, &ex); err != nil {
			t.Fatal(err)
		}
		if !ex.Complete || len(ex.Entries) != 4 || ex.Balance.MG != 3600 || ex.Balance.Points != 2 || len(ex.Lots) != 1 || ex.Lots[0].Points != 2 {
			t.Fatalf("export %s", raw)
		}
		for _, e := range ex.Entries {
			if e.Ref == "other" {
				t.Fatalf("export of %d holds another account's entry: %+v", P, e)
			}
		}
	})
}
