package ledger

import (
	"context"
	"strings"
	"testing"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestQueriesUseIndexes keeps the per-person reads off full scans, so a
// person with 100 k entries pages as fast as one with ten: the plan of
// each must search an index, never scan a ledger table.
func TestQueriesUseIndexes(t *testing.T) {
	db := storetest.Open(t, store.SQLite, Migrations)
	for _, tc := range []struct {
		name, sql string
		args      []any
	}{
		{"Entries", entriesSQL, []any{1, 2, 3, 50}},
		{"Balance", `SELECT sub, mg, points, debt FROM ledger_balances WHERE parent = $1 ORDER BY sub`, []any{1}},
		{"Expiring", `SELECT id, sub, credited_at, expires_at, remaining FROM ledger_lots
			WHERE parent = $1 AND remaining > 0 AND expires_at <= $2 ORDER BY expires_at, id`, []any{1, 2}},
		{"FindRef", `SELECT id, kind, parent, sub, debt, orig FROM ledger_tx WHERE ref = $1`, []any{"x"}},
		{"FindReversal", `SELECT id, kind, parent, sub, debt, orig FROM ledger_tx WHERE orig = $1`, []any{1}},
		{"DueLots", `SELECT parent FROM ledger_lots WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2`, []any{1, 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := db.Read().QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+tc.sql, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			for _, step := range plan {
				if strings.HasPrefix(step, "SCAN ledger_") {
					t.Fatalf("full scan in plan %q", plan)
				}
			}
		})
	}
}

// TestPostgresBatchPlans: the batch's balance writes find each row by its
// primary key on a table of a few thousand balances, where an UPDATE …
// FROM unnest ran as a hash join over all of them once a group commit.
func TestPostgresBatchPlans(t *testing.T) {
	db := storetest.Open(t, store.Postgres, Migrations)
	storetest.Exec(t, db,
		`INSERT INTO ledger_balances (parent, sub, mg, points, debt) SELECT g / 2, g % 2, 0, 0, 0 FROM generate_series(2, 10001) AS g`,
		`ANALYZE ledger_balances`, `ANALYZE ledger_lots`,
	)
	const n = 50
	var cols [9][]int64
	for i := range n {
		for j, v := range []int64{int64(i + 1), 0, 1000, 1, 0, int64(i + 1), 1, 1e15, 1} {
			cols[j] = append(cols[j], v)
		}
	}
	if scans := storetest.SeqScans(t, db, pgBalancesLotsSQL, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], int64(1)); len(scans) > 0 {
		t.Fatalf("balances and lots: full scans of %v", scans)
	}
}
