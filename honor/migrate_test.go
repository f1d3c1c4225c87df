package honor

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

// TestUpgradeFromCreditRecords starts from the schema before 002 (every
// credit recorded in honor_credits) with a consumer that had applied
// messages past its cursor whose ack was lost, migrates, and checks that
// nothing is applied twice, that the rest is applied, and that a credit
// counted under the old scheme and reversed after the upgrade is taken back
// exactly once.
func TestUpgradeFromCreditRecords(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db, err := store.Open(ctx, storetest.DSN(t, d))
			must(t, err)
			t.Cleanup(func() { db.Close() })
			first, err := fs.ReadFile(migrations, "migrations/001_honor.sql")
			must(t, err)
			old := store.Component{Name: Migrations.Name, FS: fstest.MapFS{"001_honor.sql": {Data: first}}}
			must(t, db.Migrate(ctx, webhook.Migrations, old))

			at := sh(2026, 9, 1, 9, 0)
			body := func(ref string, mg int64) webhook.CreditBody {
				return webhook.CreditBody{Ref: ref, Partner: "eleme", Account: 1, Sub: 1, Scenario: "eat", MG: mg, OccurredAt: at, CreditedAt: at}
			}
			// Outbox: a, b, reversal of b, c, reversal of c, d, e. The old
			// consumer acked up to b's reversal, applied c, its reversal and d
			// (ack lost), and never saw e.
			for _, m := range []struct {
				topic string
				ref   string
				mg    int64
			}{{webhook.TopicCreditCreated, "a", 1000}, {webhook.TopicCreditCreated, "b", 2000}, {webhook.TopicCreditReversed, "b", 2000},
				{webhook.TopicCreditCreated, "c", 4000}, {webhook.TopicCreditReversed, "c", 4000}, {webhook.TopicCreditCreated, "d", 8000},
				{webhook.TopicCreditCreated, "e", 16000}} {
				b := body(m.ref, m.mg)
				if m.topic == webhook.TopicCreditReversed {
					b = reversed(b)
				}
				enqueue(t, db, m.topic, 1, b)
			}
			f := webhook.NewFeed(db, FeedName)
			var msgs []webhook.Message
			for deadline := time.Now().Add(30 * time.Second); len(msgs) < 7 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				msgs, err = f.Next(ctx, 10)
				must(t, err)
			}
			if len(msgs) != 7 {
				t.Fatalf("%d messages visible, want 7", len(msgs))
			}
			must(t, f.Ack(ctx, msgs[2]))
			day := DayOf(at)
			must(t, db.InTx(ctx, func(tx *store.Tx) error {
				for _, q := range []struct {
					sql  string
					args []any
				}{
					{`INSERT INTO honor_credits (ref, account_id, mg, day, scenario, partner, reversed_at) VALUES
						('a', 1, 1000, $1, 'eat', 'eleme', NULL), ('b', 1, 2000, $1, 'eat', 'eleme', 5),
						('c', 1, 4000, $1, 'eat', 'eleme', 6), ('d', 1, 8000, $1, 'eat', 'eleme', NULL)`, []any{day}},
					{`INSERT INTO honor_stats (account_id, mg, credits, streak, best_streak, updated_at) VALUES (1, 9000, 2, 1, 1, 0)`, nil},
					{`INSERT INTO honor_counts (account_id, kind, name, n) VALUES (1, 'scenario', 'eat', 2), (1, 'partner', 'eleme', 2)`, nil},
					{`INSERT INTO honor_days (account_id, day, n) VALUES (1, $1, 2)`, []any{day}},
				} {
					if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
						return err
					}
				}
				return nil
			}))

			must(t, db.Migrate(ctx, webhook.Migrations, Migrations))
			s := newService(t, db)
			check := func(when string, mg, credits int64) {
				t.Helper()
				st, err := s.Stats(ctx, 1)
				must(t, err)
				if st.MG != mg || st.Credits != credits || st.Scenarios["eat"] != credits {
					t.Fatalf("%s: stats %+v, want mg %d and %d credits", when, st, mg, credits)
				}
			}
			drain(t, db, s)
			check("after the upgrade", 1000+8000+16000, 3)
			// a was counted under the old scheme; c's reversal was applied
			// under it.
			enqueue(t, db, webhook.TopicCreditReversed, 1, reversed(body("a", 1000)))
			enqueue(t, db, webhook.TopicCreditReversed, 1, reversed(body("a", 1000)))
			enqueue(t, db, webhook.TopicCreditReversed, 1, reversed(body("c", 4000)))
			drain(t, db, s)
			check("after the reversals", 8000+16000, 2)
			// A replay from the start changes nothing.
			_, err = db.Write().ExecContext(ctx, `DELETE FROM outbox_cursors WHERE consumer = $1`, FeedName)
			must(t, err)
			drain(t, db, s)
			check("after a replay", 8000+16000, 2)
		})
	}
}
