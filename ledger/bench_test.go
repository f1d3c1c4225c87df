package ledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// BenchmarkCreditTx credits b.N events in transactions of 1000 (the
// intake's group commit), spread over 10 000 accounts in ascending parent
// order, and reports credits/s and the bytes the ledger stores per credit
// (transaction, postings, indexes; balances and lots amortised).
//
//	go test -run '^$' -bench CreditTx -benchtime 20000x ./ledger/
func BenchmarkCreditTx(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, comps...)
			ledger.NewService(db, 0)
			ctx := context.Background()
			const accounts, batch = 10_000, 1000
			before := ledgerBytes(b, db)
			b.ResetTimer()
			start := time.Now()
			for done := 0; done < b.N; {
				n := min(batch, b.N-done)
				err := db.InTx(ctx, func(tx *store.Tx) error {
					for i := range n {
						k := int64((done + i) % accounts)
						_, err := ledger.CreditTx(ctx, tx, ledger.Credit{Parent: 1 + k, Sub: 1_000_000 + k, MG: 15_900 + int64(i%7)*113,
							Ref: fmt.Sprintf("evt:eleme:%012d", done+i), CalcID: fmt.Sprintf("c%020d", done+i)})
						if err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				done += n
			}
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "credits/s")
			if b.N >= 10_000 {
				b.ReportMetric(float64(ledgerBytes(b, db)-before)/float64(b.N), "B/credit")
			}
		})
	}
}

// ledgerBytes is the space the ledger's tables and indexes take.
func ledgerBytes(tb testing.TB, db *store.DB) int64 {
	tb.Helper()
	ctx := context.Background()
	var n int64
	var err error
	if db.Dialect == store.Postgres {
		_, err = db.Write().ExecContext(ctx, `VACUUM ANALYZE`)
		if err == nil {
			err = db.Read().QueryRowContext(ctx, `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c
				JOIN pg_namespace s ON s.oid = c.relnamespace
				WHERE s.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE 'ledger_%'`).Scan(&n)
		}
	} else {
		err = db.Read().QueryRowContext(ctx, `SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name LIKE 'ledger_%' OR name LIKE 'sqlite_autoindex_ledger_%'`).Scan(&n)
	}
	if err != nil {
		tb.Fatalf("ledger size: %v", err)
	}
	return n
}
