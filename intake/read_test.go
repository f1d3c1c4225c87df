package intake_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestReadSideAt100k: a person with 100,000 credited events (and other
// people around) gets a year's footprint and a page of entries quickly,
// and the queries walk indexes (SQLite query plans checked).
func TestReadSideAt100k(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, intake.Config{})
		ctx := context.Background()
		const n = 100000
		base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO intake_names (id, name) VALUES (1, 'eleme.no_cutlery'), (2, 'eat'), (3, 'eleme.small_portion'), (4, 'travel.metro_trip')`); err != nil {
				return err
			}
			// Accounts interleaved, as they are written: an event row has the
			// id of its credit's ledger transaction.
			id := 0
			for i := 0; i < n; i += 500 {
				var ev, lt strings.Builder
				var evArgs, ltArgs []any
				ev.WriteString(`INSERT INTO intake_events (id, partner, event_id, body_hash, status, account_id, sub_id, behavior_id, scenario_id, occurred_at, mg, points, calc_id, created_at) VALUES `)
				lt.WriteString(`INSERT INTO ledger_tx (id, ref, kind, parent, sub, calc_id, created_at) VALUES `)
				for k := i; k < i+500; k++ {
					for acct := int64(1); acct <= 3; acct++ {
						if acct > 1 && k >= 2000 {
							continue
						}
						if len(ltArgs) > 0 {
							ev.WriteString(", ")
							lt.WriteString(", ")
						}
						id++
						eid := fmt.Sprintf("r%d-%d", acct, k)
						evArgs = append(evArgs, eid, store.Micros(base.Add(time.Duration(k)*5*time.Minute)))
						ltArgs = append(ltArgs, "evt:eleme:"+eid)
						fmt.Fprintf(&ev, "(%d, 'eleme', $%d, 'h', 'credited', %d, 1, 1, 2, $%d, 11130, 11, '0-1', 0)", id, len(evArgs)-1, acct, len(evArgs))
						fmt.Fprintf(&lt, "(%d, $%d, 'credit', %d, 1, '0-1', 0)", id, len(ltArgs), acct)
					}
				}
				if _, err := tx.ExecContext(ctx, ev.String(), evArgs...); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, lt.String(), ltArgs...); err != nil {
					return err
				}
			}
			for acct := int64(1); acct <= 3; acct++ {
				for d := 0; d < 365; d++ {
					day := base.AddDate(0, 0, d)
					for _, b := range []int{1, 3, 4} {
						if _, err := tx.ExecContext(ctx, `INSERT INTO intake_usage (account_id, behavior_id, day, partner, scenario_id, mg, events) VALUES ($1, $2, $3, 'eleme', 2, 1000, 1)`,
							acct, b, day.Year()*10000+int(day.Month())*100+day.Day()); err != nil {
							return err
						}
					}
				}
			}
			_, err := tx.ExecContext(ctx, `ANALYZE`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		loc := e.eng.Location()
		from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Date(2026, 12, 31, 0, 0, 0, 0, loc)
		for _, by := range []string{"scenario", "day", "month"} {
			start := time.Now()
			fp, err := e.svc.Footprint(ctx, 1, from, to, by)
			if err != nil || fp.TotalMG != 365*3*1000 {
				t.Fatalf("footprint by %s: %+v %v", by, fp, err)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Fatalf("footprint by %s took %s", by, d)
			}
		}
		start := time.Now()
		cursor := ""
		for page := 0; page < 5; page++ {
			es, next, err := e.svc.Entries(ctx, 1, cursor, 50)
			if err != nil || len(es) != 50 || es[0].EventID != fmt.Sprintf("r1-%d", n-1-page*50) {
				t.Fatalf("page %d: %d entries, %v", page, len(es), err)
			}
			cursor = next
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("5 pages of entries took %s", d)
		}
		if db.Dialect == store.SQLite {
			for q, want := range map[string]string{
				`SELECT scenario_id, SUM(mg) FROM intake_usage WHERE account_id = 1 AND day BETWEEN 20260101 AND 20261231 GROUP BY scenario_id`:                          "SEARCH intake_usage USING PRIMARY KEY (account_id=? AND day>? AND day<?)",
				`SELECT e.id FROM ledger_tx t JOIN intake_events e ON e.id = t.id WHERE t.parent = 2 AND t.id < 99999 AND t.kind = 'credit' ORDER BY t.id DESC LIMIT 51`: "INDEX ledger_tx_parent (parent=? AND id<?)",
			} {
				plan := explain(t, db, q)
				if !strings.Contains(plan, want) || strings.Contains(plan, "SCAN intake_") {
					t.Fatalf("plan of %s:\n%s\nwant %s", q, plan, want)
				}
			}
			// The writer's exclusivity reads, as it runs them: its prefetch
			// (prefetchActs) and the read of one act (excludedBy).
			for _, r := range []struct {
				q    string
				args []any
			}{
				{intake.ActsQuerySQLite(2), []any{1, "x", 2, "y"}},
				{intake.ExcludedByQuery(store.SQLite, 2), []any{1, "x", "a", "b"}},
			} {
				const want = "SEARCH e USING INDEX intake_events_act (act_key=? AND account_id=?)"
				if plan := explain(t, db, r.q, r.args...); !strings.Contains(plan, want) {
					t.Fatalf("plan of %s:\n%s\nwant %s", r.q, plan, want)
				}
			}
		}
		if db.Dialect == store.Postgres {
			// The writer's and the reversal's reads by idempotency key and
			// by act probe their indexes, whose keys are digests
			// (pgEventKey, pgActKey): a query that spelled the expression
			// differently would read intake_events in full.
			storetest.Exec(t, db, `ANALYZE intake_events`)
			for _, r := range []struct {
				q, index string
				args     []any
			}{
				{intake.QLocksActsPG, "intake_events_act", []any{[]int64{1, 2}, []string{"x", "y"}, []int64{7}}},
				{intake.ExcludedByQuery(store.Postgres, 2), "intake_events_act", []any{1, "x", "a", "b"}},
				{intake.QKnownPG, "intake_events_key", []any{"eleme", []string{"r1-1", "r1-2"}}},
				{intake.EventQuery(store.Postgres), "intake_events_key", []any{"eleme", "r1-1"}},
			} {
				for _, p := range storetest.Plans(t, db, r.q, r.args...) {
					probe := strings.Contains(p.Text, "Index Scan using "+r.index+" ") || strings.Contains(p.Text, "Bitmap Index Scan on "+r.index+" ")
					if !probe || strings.Contains(p.Text, "Seq Scan on intake_events") {
						t.Fatalf("%s plan of %s:\n%s\nwant a probe of %s", p.Mode, r.q, p.Text, r.index)
					}
				}
			}
		}
	})
}

func explain(t *testing.T, db *store.DB, q string, args ...any) string {
	rows, err := db.Read().Query(`EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sb strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		rows.Scan(&id, &parent, &notused, &detail)
		sb.WriteString(detail + "\n")
	}
	return sb.String()
}
