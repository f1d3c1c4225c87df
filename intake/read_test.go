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
			for acct := int64(1); acct <= 3; acct++ {
				count := n
				if acct > 1 {
					count = 2000
				}
				for i := 0; i < count; i += 500 {
					var sb strings.Builder
					args := []any{}
					sb.WriteString(`INSERT INTO intake_events (partner, event_id, body_hash, status, account_id, sub_id, behavior_id, scenario_id, occurred_at, mg, points, calc_id, created_at) VALUES `)
					for k := i; k < min(count, i+500); k++ {
						if k > i {
							sb.WriteString(", ")
						}
						at := store.Micros(base.Add(time.Duration(k) * 5 * time.Minute))
						args = append(args, fmt.Sprintf("r%d-%d", acct, k), at)
						fmt.Fprintf(&sb, "('eleme', $%d, 'h', 'credited', %d, 1, 1, 2, $%d, 11130, 11, '0-1', 0)", len(args)-1, acct, len(args))
					}
					if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
						return err
					}
				}
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
				`SELECT scenario_id, SUM(mg) FROM intake_usage WHERE account_id = 1 AND day BETWEEN 20260101 AND 20261231 GROUP BY scenario_id`: "SEARCH intake_usage USING PRIMARY KEY (account_id=? AND day>? AND day<?)",
				`SELECT id FROM intake_events WHERE account_id = 2 AND id < 99999 ORDER BY id DESC LIMIT 51`:                                    "INDEX intake_events_account (account_id=? AND id<?)",
			} {
				plan := explain(t, db, q)
				if !strings.Contains(plan, want) || strings.Contains(plan, "SCAN intake_") {
					t.Fatalf("plan of %s:\n%s\nwant %s", q, plan, want)
				}
			}
		}
	})
}

func explain(t *testing.T, db *store.DB, q string) string {
	rows, err := db.Read().Query(`EXPLAIN QUERY PLAN ` + q)
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
