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
