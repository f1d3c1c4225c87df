package honor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

// TestRunTwoConsumers runs two consumers of the medals feed at once (two
// server processes on one PostgreSQL), each committing at most 3 messages
// a transaction, over ten days of credits of two people and then the
// reversal of their first two days: every medal is awarded and announced
// once, and the best streak seen (10) stays after the reversals shorten the
// run to 8.
func TestRunTwoConsumers(t *testing.T) {
	defer func(n int) { txBatch = n }(txBatch)
	txBatch = 3
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := newWorld(t, db)
		accs := []int64{w.open(), w.open()}
		done := make(chan error, 2)
		for range 2 {
			s := newService(t, db)
			go func() { done <- s.run(ctx, 20*time.Millisecond, 20*time.Millisecond, nil) }()
		}
		caughtUp := func() {
			t.Helper()
			var target int64
			must(t, db.Read().QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM outbox WHERE topic <> $1`, webhook.TopicMedalAwarded).Scan(&target))
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				var at int64
				must(t, db.Read().QueryRowContext(ctx, `SELECT COALESCE((SELECT last_id FROM outbox_cursors WHERE consumer = $1), 0)`, FeedName).Scan(&at))
				if at >= target {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("cursor at %d, want %d", at, target)
				}
			}
		}
		var first []string
		var mg int64
		for i := range 20 {
			id, m := w.credit(accs[i%2], "travel", sh(2026, 10, 1+i/2, 9, 0))
			if i < 4 { // each person's first two days
				first = append(first, id)
			}
			mg += m
		}
		caughtUp()
		for _, id := range first {
			w.reverse("travel", id)
		}
		caughtUp()
		cancel()
		for range 2 {
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
		}
		s := newService(t, db)
		for _, acc := range accs {
			st, err := s.Stats(context.Background(), acc)
			must(t, err)
			if st.MG != mg/20*8 || st.Credits != 8 || st.Scenarios["travel"] != 8 || st.Streak != 8 || st.BestStreak != 10 {
				t.Fatalf("account %d: %+v", acc, st)
			}
			var n int
			must(t, db.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM outbox WHERE topic = $1 AND account_id = $2`,
				webhook.TopicMedalAwarded, acc).Scan(&n))
			if h := held(t, s, acc); len(h) != n || !h["week-streak"] || !h["green-commuter"] {
				t.Fatalf("account %d: medals %v, %d announced", acc, h, n)
			}
		}
	})
}

// TestStalePlanAwardsOnce: a plan read before another consumer awarded its
// medals is written after it (two servers on one PostgreSQL) and awards
// and announces nothing a second time.
func TestStalePlanAwardsOnce(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		s := newService(t, db)
		acc := w.open()
		w.credit(acc, "use", sh(2026, 11, 1, 9, 0))
		msgs := []webhook.Message{{ID: 1, Topic: webhook.TopicCreditCreated, Account: acc}}
		catalog, err := s.Catalog(ctx)
		must(t, err)
		p, err := s.plan(ctx, msgs, catalog)
		must(t, err)
		if len(p.awards) != 2 || len(p.records) != 1 {
			t.Fatalf("plan %+v, want first-step, one-kg and a streak of 1", p)
		}
		must(t, s.HandleMessages(ctx, msgs))
		must(t, db.InTx(ctx, func(tx *store.Tx) error { return p.writeTx(ctx, tx) }))
		var n int
		must(t, db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE topic = $1 AND account_id = $2`, webhook.TopicMedalAwarded, acc).Scan(&n))
		if h := held(t, s, acc); len(h) != 2 || n != 2 {
			t.Fatalf("medals %v, %d announced; want 2, each once", h, n)
		}
	})
}
