package webhook_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

func TestFeed(t *testing.T) {
	storetest.Each(t, []store.Component{webhook.Migrations}, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for i := range 5 {
			err := db.InTx(ctx, func(tx *store.Tx) error {
				return webhook.EnqueueTx(ctx, tx, webhook.TopicCreditCreated, "eleme", int64(i+1), map[string]int{"n": i})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		f := webhook.NewFeed(db, "test")
		// On PostgreSQL a feed waits for every older writing transaction in
		// the cluster (other tests' included) to end before it reads.
		var msgs []webhook.Message
		var err error
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if msgs, err = f.Next(ctx, 3); err != nil || len(msgs) == 3 {
				break
			}
		}
		if err != nil || len(msgs) != 3 {
			t.Fatalf("Next = %d messages, %v; want 3", len(msgs), err)
		}
		if msgs[0].Account != 1 || string(msgs[0].Body) != `{"n":0}` {
			t.Fatalf("first message = %+v", msgs[0])
		}
		// Not acked: the same messages come again.
		again, _ := f.Next(ctx, 3)
		if again[0].ID != msgs[0].ID {
			t.Fatalf("unacked feed moved on")
		}
		if err := f.Ack(ctx, msgs[2]); err != nil {
			t.Fatal(err)
		}
		// Each read waits, as the first one did, for the messages to be
		// visible to a feed (other tests' transactions may be running).
		rest, err := waitNext(ctx, f, 2)
		if err != nil || len(rest) != 2 || rest[0].Account != 4 {
			t.Fatalf("after ack = %+v, %v; want accounts 4 and 5", rest, err)
		}
		// Another consumer has its own cursor.
		other, _ := waitNext(ctx, webhook.NewFeed(db, "other"), 5)
		if len(other) != 5 {
			t.Fatalf("second consumer saw %d; want 5", len(other))
		}
	})
}

// nextN reads until the feed returns n messages (on PostgreSQL a feed waits
// for older writing transactions in the cluster to end).
func nextN(t testing.TB, f *webhook.Feed, n int) []webhook.Message {
	t.Helper()
	var msgs []webhook.Message
	var err error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if msgs, err = f.Next(context.Background(), n); err != nil || len(msgs) == n {
			break
		}
	}
	if err != nil || len(msgs) != n {
		t.Fatalf("Next = %d messages, %v; want %d", len(msgs), err, n)
	}
	return msgs
}

func TestPrune(t *testing.T) {
	storetest.Each(t, []store.Component{webhook.Migrations}, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
		now := t0
		db.Now = func() time.Time { return now }
		for i := range 5 {
			err := db.InTx(ctx, func(tx *store.Tx) error {
				return webhook.EnqueueTx(ctx, tx, webhook.TopicCreditCreated, "eleme", int64(i+1), map[string]int{"n": i})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		a, b := webhook.NewFeed(db, "a"), webhook.NewFeed(db, "b")
		msgsA := nextN(t, a, 5)
		prune := func(name string, age time.Duration, want int64, required ...string) {
			t.Helper()
			now = t0.Add(age)
			n, err := webhook.Prune(ctx, db, 24*time.Hour, required...)
			if err != nil || n != want {
				t.Fatalf("%s: Prune = %d, %v; want %d", name, n, err, want)
			}
		}
		prune("NoConsumerYet", 48*time.Hour, 0)
		if err := a.Register(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.Register(ctx); err != nil {
			t.Fatal(err)
		}
		prune("RegisteredNotAcked", 48*time.Hour, 0, "a", "b")
		if err := a.Ack(ctx, msgsA[4]); err != nil {
			t.Fatal(err)
		}
		prune("ConsumerLags", 48*time.Hour, 0, "a", "b")
		msgsB := nextN(t, b, 2)
		if err := b.Ack(ctx, msgsB[1]); err != nil {
			t.Fatal(err)
		}
		prune("RequiredConsumerMissing", 48*time.Hour, 0, "a", "b", "c")
		prune("YoungerThanRetention", time.Hour, 0, "a", "b")
		prune("BehindEveryCursor", 48*time.Hour, 2, "a", "b")
		prune("Idempotent", 48*time.Hour, 0, "a", "b")
		// The lagging consumer still gets every message it has not acked.
		rest := nextN(t, b, 3)
		if rest[0].ID != msgsA[2].ID || rest[2].ID != msgsA[4].ID {
			t.Fatalf("after prune b reads %d..%d; want %d..%d", rest[0].ID, rest[2].ID, msgsA[2].ID, msgsA[4].ID)
		}
		if err := b.Ack(ctx, rest[2]); err != nil {
			t.Fatal(err)
		}
		prune("AllAcked", 48*time.Hour, 3, "a", "b")
		if got, _ := a.Next(ctx, 10); len(got) != 0 {
			t.Fatalf("a reads %d pruned messages again", len(got))
		}
	})
}

func TestEnqueueManyTx(t *testing.T) {
	storetest.Each(t, []store.Component{webhook.Migrations}, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, tc := range []struct {
			name string
			n    int
		}{{"Empty", 0}, {"One", 1}, {"SeveralChunks", 1201}} {
			t.Run(tc.name, func(t *testing.T) {
				f := webhook.NewFeed(db, "many-"+tc.name)
				if err := f.Register(ctx); err != nil {
					t.Fatal(err)
				}
				// Skip what earlier subtests wrote.
				var before []webhook.Message
				for {
					got, err := f.Next(ctx, 5000)
					if err != nil {
						t.Fatal(err)
					}
					if len(got) == 0 {
						break
					}
					before = append(before, got...)
					if err := f.Ack(ctx, got[len(got)-1]); err != nil {
						t.Fatal(err)
					}
				}
				msgs := make([]webhook.Msg, tc.n)
				for i := range msgs {
					msgs[i] = webhook.Msg{Topic: webhook.TopicCreditCreated, Partner: "eleme", Account: int64(i + 1), Body: map[string]int{"n": i}}
				}
				if err := db.InTx(ctx, func(tx *store.Tx) error { return webhook.EnqueueManyTx(ctx, tx, msgs) }); err != nil {
					t.Fatal(err)
				}
				if tc.n == 0 {
					return
				}
				got := nextN(t, f, tc.n)
				for i, m := range got {
					if m.Account != int64(i+1) || m.Partner != "eleme" || m.Topic != webhook.TopicCreditCreated || string(m.Body) != fmt.Sprintf(`{"n":%d}`, i) {
						t.Fatalf("message %d = %+v", i, m)
					}
					if i > 0 && m.ID <= got[i-1].ID {
						t.Fatalf("ids not increasing along msgs at %d", i)
					}
				}
			})
		}
	})
}

// BenchmarkEnqueue writes 1,000 credit-sized messages in one transaction,
// one INSERT each (EnqueueTx) or multi-row (EnqueueManyTx).
//
//	go test ./webhook -run '^$' -bench Enqueue -benchtime 20x
func BenchmarkEnqueue(b *testing.B) {
	body := map[string]any{"ref": "evt:tmall:b1-2-3", "event_id": "b1-2-3", "partner": "tmall", "account": 123, "sub": 456,
		"behavior": "tmall.low_carbon_product", "scenario": "use", "mg": 15900, "points": 15, "calc_id": "c-0123456789abcdef",
		"occurred_at": "2026-11-05T12:00:00Z", "credited_at": "2026-11-25T12:46:05.123456789Z"}
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		db := storetest.Open(b, d, webhook.Migrations)
		ctx := context.Background()
		msgs := make([]webhook.Msg, 1000)
		for i := range msgs {
			msgs[i] = webhook.Msg{Topic: webhook.TopicCreditCreated, Partner: "tmall", Account: int64(i), Body: body}
		}
		for _, v := range []struct {
			name string
			fn   func(tx *store.Tx) error
		}{
			{"one", func(tx *store.Tx) error {
				for _, m := range msgs {
					if err := webhook.EnqueueTx(ctx, tx, m.Topic, m.Partner, m.Account, m.Body); err != nil {
						return err
					}
				}
				return nil
			}},
			{"many", func(tx *store.Tx) error { return webhook.EnqueueManyTx(ctx, tx, msgs) }},
		} {
			b.Run(string(d)+"/"+v.name, func(b *testing.B) {
				for b.Loop() {
					if err := db.InTx(ctx, v.fn); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// waitNext reads f until it returns want messages (or for up to a minute:
// on PostgreSQL a feed sees a message only once every older writing
// transaction in the cluster has ended).
func waitNext(ctx context.Context, f *webhook.Feed, want int) ([]webhook.Message, error) {
	var msgs []webhook.Message
	var err error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if msgs, err = f.Next(ctx, 10); err != nil || len(msgs) >= want {
			break
		}
	}
	return msgs, err
}
