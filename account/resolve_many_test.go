package account_test

import (
	"context"
	"fmt"
	"testing"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestResolveManyTx checks that the batch gate answers every key exactly as
// ResolveTx does, across more people than one query chunk holds.
func TestResolveManyTx(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustSetup(t, db)
		const people = 520
		for i := 0; i < people; i++ {
			p := fmt.Sprintf("p%d", i)
			partners := []string{"eleme"}
			switch {
			case i%7 == 3:
				partners = nil // an account with no sub-account
			case i%3 == 0:
				partners = append(partners, "cainiao")
			}
			if _, _, err := s.Open(ctx, p, account.OpenRequest{EntryPoint: "search", ConsentVersion: "v1", Partners: partners}); err != nil {
				t.Fatal(err)
			}
			switch {
			case i%5 == 1 && partners != nil:
				if _, err := s.Revoke(ctx, p, "eleme"); err != nil {
					t.Fatal(err)
				}
			case i%5 == 2:
				if err := s.Erase(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
		}
		var keys []account.Key
		for i := people + 10; i >= 0; i-- {
			for _, partnerID := range []string{"eleme", "cainiao", "xianyu"} {
				keys = append(keys, account.Key{Person: fmt.Sprintf("p%d", i), Partner: partnerID})
			}
		}
		keys = append(keys, keys[:7]...) // duplicates
		err := db.InTx(ctx, func(tx *store.Tx) error {
			got, err := account.ResolveManyTx(ctx, tx, keys)
			if err != nil {
				return err
			}
			codes := map[string]int{}
			for i, k := range keys {
				a, sub, err := account.ResolveTx(ctx, tx, k.Person, k.Partner)
				if oc.ErrorCode(err) != oc.ErrorCode(got[i].Err) || a != got[i].AccountID || sub != got[i].SubID {
					t.Fatalf("%+v: batch %+v, single %d %d %v", k, got[i], a, sub, err)
				}
				codes[oc.ErrorCode(err)]++
			}
			if codes[""] == 0 || codes[oc.ENoConsent] == 0 || codes[oc.EPartnerNotLinked] == 0 {
				t.Fatalf("cases not all covered: %v", codes)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = db.InTx(ctx, func(tx *store.Tx) error {
			got, err := account.ResolveManyTx(ctx, tx, nil)
			if err != nil || len(got) != 0 {
				t.Fatalf("empty batch = %v %v", got, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
