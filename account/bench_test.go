package account_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// BenchmarkResolveTx measures the intake's consent gate: ResolveTx calls
// inside one write transaction of 1000, as a group commit would make them,
// over 1000 people.
//
//	go test -run XXX -bench ResolveTx ./account/
func BenchmarkResolveTx(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, comps...)
			s := mustSetup(b, db)
			ctx := context.Background()
			const people = 1000
			for i := 0; i < people; i++ {
				if _, _, err := s.Open(ctx, fmt.Sprintf("p%d", i), account.OpenRequest{EntryPoint: "search", ConsentVersion: "v1", Partners: []string{"eleme"}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for done := 0; done < b.N; {
				err := db.InTx(ctx, func(tx *store.Tx) error {
					for j := 0; j < 1000 && done < b.N; j++ {
						if _, _, err := account.ResolveTx(ctx, tx, fmt.Sprintf("p%d", done%people), "eleme"); err != nil {
							return err
						}
						done++
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResolveManyTx measures the batch gate: batches of 1000 keys over
// 1000 people, one transaction per batch. ns/op is per key.
func BenchmarkResolveManyTx(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, comps...)
			s := mustSetup(b, db)
			ctx := context.Background()
			const people = 1000
			keys := make([]account.Key, people)
			for i := range keys {
				keys[i] = account.Key{Person: fmt.Sprintf("p%d", i), Partner: "eleme"}
				if _, _, err := s.Open(ctx, keys[i].Person, account.OpenRequest{EntryPoint: "search", ConsentVersion: "v1", Partners: []string{"eleme"}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for done := 0; done < b.N; done += people {
				err := db.InTx(ctx, func(tx *store.Tx) error {
					got, err := account.ResolveManyTx(ctx, tx, keys[:min(people, b.N-done)])
					if err == nil && got[0].Err != nil {
						err = got[0].Err
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
