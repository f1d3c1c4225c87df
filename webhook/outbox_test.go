package webhook_test

import (
	"context"
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
		rest, err := f.Next(ctx, 10)
		if err != nil || len(rest) != 2 || rest[0].Account != 4 {
			t.Fatalf("after ack = %+v, %v; want accounts 4 and 5", rest, err)
		}
		// Another consumer has its own cursor.
		other, _ := webhook.NewFeed(db, "other").Next(ctx, 10)
		if len(other) != 5 {
			t.Fatalf("second consumer saw %d; want 5", len(other))
		}
	})
}
