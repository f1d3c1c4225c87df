package honor

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

// TestUpgradeFromCounters starts from the schema before 003 (stats kept
// per credit in honor_refs, honor_stats, honor_counts and honor_days) with
// a person whose credits the old consumer counted, who joined a campaign,
// whose best streak (9) is longer than what their credits now show, and
// who holds first-step, announced before; the feed is replayed from the
// start after the upgrade. The campaign and the best streak are kept, the
// old tables are gone, first-step is neither awarded nor announced again,
// and the medals the kept values earn (campaigner, week-streak) are
// awarded once.
func TestUpgradeFromCounters(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db, err := store.Open(ctx, storetest.DSN(t, d))
			must(t, err)
			t.Cleanup(func() { db.Close() })
			must(t, db.Migrate(ctx, append(comps[:len(comps)-1:len(comps)-1], storetest.Before(t, Migrations, 3))...))

			w := newWorld(t, db)
			acc := w.open()
			a, _ := w.credit(acc, "eat", sh(2026, 9, 1, 9, 0))
			b, _ := w.credit(acc, "eat", sh(2026, 9, 2, 9, 0))
			must(t, db.InTx(ctx, func(tx *store.Tx) error {
				for _, q := range []struct {
					sql  string
					args []any
				}{
					{`INSERT INTO honor_refs (ref, reversed) VALUES ($1, 0), ($2, 0)`, []any{"evt:eleme:" + a, "evt:eleme:" + b}},
					{`INSERT INTO honor_stats (account_id, mg, credits, streak, best_streak, updated_at) VALUES ($1, 22260, 2, 2, 9, 0)`, []any{acc}},
					{`INSERT INTO honor_counts (account_id, kind, name, n) VALUES ($1, 'scenario', 'eat', 2), ($1, 'partner', 'eleme', 2),
						($1, 'campaign', '88week', 1)`, []any{acc}},
					{`INSERT INTO honor_days (account_id, day, n) VALUES ($1, 20697, 1), ($1, 20698, 1)`, []any{acc}},
					{`INSERT INTO honor_medals (account_id, medal_id, awarded_at) VALUES ($1, 'first-step', 1)`, []any{acc}},
				} {
					if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
						return err
					}
				}
				return webhook.EnqueueTx(ctx, tx, webhook.TopicMedalAwarded, "", acc, AwardedBody{Account: acc, Medal: "first-step"})
			}))

			must(t, db.Migrate(ctx, comps...))
			for _, table := range []string{"honor_refs", "honor_stats", "honor_counts", "honor_days"} {
				var n int
				if err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err == nil {
					t.Errorf("%s is still there", table)
				}
			}
			s := newService(t, db)
			drain(t, db, s)
			st, err := s.Stats(ctx, acc)
			must(t, err)
			if st.Credits != 2 || st.Streak != 2 || st.BestStreak != 9 || len(st.Campaigns) != 1 || st.Campaigns[0] != "88week" {
				t.Fatalf("stats after the upgrade %+v, want 2 credits, streak 2, best 9 and the campaign", st)
			}
			h := held(t, s, acc)
			if len(h) != 3 || !h["first-step"] || !h["campaigner"] || !h["week-streak"] {
				t.Fatalf("medals %v, want first-step, campaigner and week-streak", h)
			}
			rows, err := db.Read().QueryContext(ctx, `SELECT body FROM outbox WHERE topic = $1 AND account_id = $2`, webhook.TopicMedalAwarded, acc)
			must(t, err)
			defer rows.Close()
			announced := map[string]int{}
			for rows.Next() {
				var body []byte
				var m AwardedBody
				must(t, rows.Scan(&body))
				must(t, json.Unmarshal(body, &m))
				announced[m.Medal]++
			}
			must(t, rows.Err())
			if len(announced) != 3 || announced["first-step"] != 1 || announced["campaigner"] != 1 || announced["week-streak"] != 1 {
				t.Fatalf("announced %v, want each medal once", announced)
			}
		})
	}
}
