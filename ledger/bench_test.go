package ledger_test

import (
	"context"
	"fmt"
	"syscall"
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
func BenchmarkCreditTx(b *testing.B) { benchCredits(b, false) }

// BenchmarkCreditBatchTx is BenchmarkCreditTx through CreditBatchTx, one
// call per 1000 credits.
//
//	go test -run '^$' -bench CreditBatchTx -benchtime 20000x ./ledger/
func BenchmarkCreditBatchTx(b *testing.B) { benchCredits(b, true) }

func benchCredits(b *testing.B, batched bool) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, comps...)
			ledger.NewService(db, 0)
			ctx := context.Background()
			const accounts, batch = 10_000, 1000
			before, beforeLog := ledgerBytes(b, db)
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			for done := 0; done < b.N; {
				n := min(batch, b.N-done)
				cs := make([]ledger.Credit, n)
				for i := range n {
					k := int64((done + i) % accounts)
					cs[i] = ledger.Credit{Parent: 1 + k, Sub: 1_000_000 + k, MG: 15_900 + int64(i%7)*113,
						Ref: fmt.Sprintf("evt:eleme:%012d", done+i), CalcID: fmt.Sprintf("c%020d", done+i)}
				}
				err := db.InTx(ctx, func(tx *store.Tx) error {
					if batched {
						_, err := ledger.CreditBatchTx(ctx, tx, cs)
						return err
					}
					for _, c := range cs {
						if _, err := ledger.CreditTx(ctx, tx, c); err != nil {
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
			el, cpu := time.Since(start), cpuTime()-cpu0
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "credits/s")
			// CPU time of this process per credit: on a shared machine it
			// says more than the rate (for PostgreSQL it leaves out the
			// server's share).
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/credit")
			if b.N >= 10_000 {
				after, afterLog := ledgerBytes(b, db)
				b.ReportMetric(float64(after-before)/float64(b.N), "B/credit")
				b.ReportMetric(float64(afterLog-beforeLog)/float64(b.N), "log-B/credit")
			}
		})
	}
}

// cpuTime is the user + system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ledgerBytes is the space the ledger's tables and indexes take: all of
// them, and the append-only log alone (ledger_tx and ledger_postings with
// their indexes; balances and lots are rewritten in place, and on
// PostgreSQL their dead row versions are reused after autovacuum).
func ledgerBytes(tb testing.TB, db *store.DB) (all, log int64) {
	tb.Helper()
	ctx := context.Background()
	var err error
	if db.Dialect == store.Postgres {
		_, err = db.Write().ExecContext(ctx, `VACUUM ANALYZE`)
		if err == nil {
			err = db.Read().QueryRowContext(ctx, `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0),
				COALESCE(SUM(CASE WHEN c.relname IN ('ledger_tx', 'ledger_postings') THEN pg_total_relation_size(c.oid) END), 0) FROM pg_class c
				JOIN pg_namespace s ON s.oid = c.relnamespace
				WHERE s.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE 'ledger_%'`).Scan(&all, &log)
		}
	} else {
		err = db.Read().QueryRowContext(ctx, `SELECT COALESCE(SUM(pgsize), 0),
			COALESCE(SUM(CASE WHEN name IN ('ledger_tx', 'ledger_postings', 'ledger_tx_parent', 'ledger_tx_orig', 'sqlite_autoindex_ledger_tx_1') THEN pgsize END), 0)
			FROM dbstat WHERE name LIKE 'ledger_%' OR name LIKE 'sqlite_autoindex_ledger_%'`).Scan(&all, &log)
	}
	if err != nil {
		tb.Fatalf("ledger size: %v", err)
	}
	return all, log
}
