package honor

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

// TestRunTwoConsumers runs two consumers of the medals feed at once (two
// server processes on one PostgreSQL), each committing at most 3 messages
// a transaction: every credit and reversal is applied exactly once and
// every medal announced once. (The best streak is 9 or 10: 10 if every
// credit was applied before the first reversal, 9 if a transaction held
// both the last credit and the first reversal.)
func TestRunTwoConsumers(t *testing.T) {
	defer func(n int) { txBatch = n }(txBatch)
	txBatch = 3
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var refs []string
		for i := range 20 {
			refs = append(refs, credit(t, db, 40+int64(i%2), 100_000, "travel", "cainiao", sh(2026, 10, 1+i/2, 9, 0)))
		}
		for i, ref := range refs[:4] { // accounts 40 and 41, two credits each
			b := webhook.CreditBody{Ref: ref, Partner: "cainiao", Account: 40 + int64(i%2), Sub: 1, Scenario: "travel", MG: 100_000,
				OccurredAt: sh(2026, 10, 1+i/2, 9, 0)}
			enqueue(t, db, webhook.TopicCreditReversed, b.Account, reversed(b))
		}
		done := make(chan error, 2)
		for range 2 {
			s := newService(t, db)
			go func() { done <- s.run(ctx, 20*time.Millisecond, 20*time.Millisecond, nil) }()
		}
		s := newService(t, db)
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var left int
			must(t, db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox o WHERE o.topic <> $1 AND o.id > COALESCE((SELECT last_id FROM outbox_cursors WHERE consumer = $2), 0)`,
				webhook.TopicMedalAwarded, FeedName).Scan(&left))
			if left == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d messages left", left)
			}
		}
		cancel()
		for range 2 {
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
		}
		for _, acc := range []int64{40, 41} {
			st, err := s.Stats(context.Background(), acc)
			must(t, err)
			if st.MG != 800_000 || st.Credits != 8 || st.Scenarios["travel"] != 8 || st.Streak != 8 || st.BestStreak < 9 {
				t.Fatalf("account %d: %+v", acc, st)
			}
			var n int
			must(t, db.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM outbox WHERE topic = $1 AND account_id = $2`,
				webhook.TopicMedalAwarded, acc).Scan(&n))
			if h := held(t, s, acc); len(h) != n || !h["week-streak"] {
				t.Fatalf("account %d: medals %v, %d announced", acc, h, n)
			}
		}
	})
}

// TestStalePlanRefused: a plan read before another writer recorded some
// of its credits is refused when it is written, and changes nothing.
func TestStalePlanRefused(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(t, db)
		at := sh(2026, 11, 1, 9, 0)
		var msgs []webhook.Message
		for i := range 3 {
			b := webhook.CreditBody{Ref: fmt.Sprintf("evt:eleme:s%d", i), Partner: "eleme", Account: 50, Sub: 1, Scenario: "eat", MG: 1000, OccurredAt: at}
			msgs = append(msgs, webhook.Message{ID: int64(i + 1), Topic: webhook.TopicCreditCreated, Body: mustJSON(t, b)})
		}
		catalog, err := s.Catalog(ctx)
		must(t, err)
		p, err := s.plan(ctx, db.Read(), db.Dialect, msgs, catalog, true)
		must(t, err)
		must(t, s.HandleMessages(ctx, msgs[1:2]))
		if err := db.InTx(ctx, func(tx *store.Tx) error { return p.writeTx(ctx, tx) }); !errors.Is(err, errStale) {
			t.Fatalf("writeTx of a stale plan = %v, want errStale", err)
		}
		st, err := s.Stats(ctx, 50)
		must(t, err)
		if st.MG != 1000 || st.Credits != 1 {
			t.Fatalf("stats %+v, want the one credit applied", st)
		}
	})
}

// applyAll applies every pending message the way Run does (apply), waiting
// on PostgreSQL until the newest one is visible to feeds.
func applyAll(t *testing.T, db *store.DB, s *Service) {
	t.Helper()
	feedAll(t, db, runBatch, func(ctx context.Context, f *webhook.Feed, msgs []webhook.Message) error {
		return s.apply(ctx, f, msgs, nil)
	})
}

// TestRunPlansAgainWhenItsAssumptionFails: Run plans a batch assuming every
// credit new and every reversed credit counted; a batch with a repeated
// credit, a repeated reversal and the reversal of a credit never counted
// is planned again inside the transaction and applied exactly.
func TestRunPlansAgainWhenItsAssumptionFails(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(t, db)
		at := sh(2026, 12, 1, 9, 0)
		a := credit(t, db, 60, 300_000, "eat", "eleme", at)
		applyAll(t, db, s)
		body := func(ref string) webhook.CreditBody {
			return webhook.CreditBody{Ref: ref, Partner: "eleme", Account: 60, Sub: 1, Scenario: "eat", MG: 300_000, OccurredAt: at, CreditedAt: at}
		}
		enqueue(t, db, webhook.TopicCreditCreated, 60, body(a)) // repeated
		b := credit(t, db, 60, 300_000, "eat", "eleme", at.AddDate(0, 0, 1))
		enqueue(t, db, webhook.TopicCreditReversed, 60, reversed(body("evt:eleme:never")))
		enqueue(t, db, webhook.TopicCreditReversed, 60, reversed(body(a)))
		enqueue(t, db, webhook.TopicCreditReversed, 60, reversed(body(a)))
		applyAll(t, db, s)
		st, err := s.Stats(ctx, 60)
		must(t, err)
		if st.MG != 300_000 || st.Credits != 1 || st.Scenarios["eat"] != 1 || st.Streak != 1 || st.BestStreak != 1 {
			t.Fatalf("stats %+v, want %s only", st, b)
		}
		// And a plain batch after it takes the optimistic path again.
		credit(t, db, 60, 300_000, "eat", "eleme", at.AddDate(0, 0, 2))
		applyAll(t, db, s)
		if st, _ = s.Stats(ctx, 60); st.MG != 600_000 || st.Credits != 2 || st.Streak != 2 {
			t.Fatalf("stats %+v after one more credit", st)
		}
	})
}
