package webhook_test

import (
	"context"
	"errors"
	"testing"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

// TestAckTx: the cursor moves with the consumer's own transaction, not
// when that transaction rolls back, and a batch is committed once even
// when two consumers of the same feed read it.
func TestAckTx(t *testing.T) {
	storetest.Each(t, []store.Component{webhook.Migrations}, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for i := range 4 {
			if err := db.InTx(ctx, func(tx *store.Tx) error {
				return webhook.EnqueueTx(ctx, tx, webhook.TopicCreditCreated, "", int64(i+1), map[string]int{"n": i})
			}); err != nil {
				t.Fatal(err)
			}
		}
		f := webhook.NewFeed(db, "tx")
		// All four visible first: on PostgreSQL a feed reads only what
		// every older writing transaction in the cluster (other tests')
		// leaves behind it, so the last two may show later than the first.
		nextN(t, f, 4)
		msgs, err := f.Next(ctx, 2)
		if err != nil || len(msgs) != 2 {
			t.Fatalf("Next = %d messages, %v; want 2", len(msgs), err)
		}
		t.Run("RolledBackDoesNotMove", func(t *testing.T) {
			boom := errors.New("boom")
			err := db.InTx(ctx, func(tx *store.Tx) error {
				if err := f.AckTx(ctx, tx, msgs); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("InTx = %v", err)
			}
			again, err := f.Next(ctx, 2)
			if err != nil || len(again) != 2 || again[0].ID != msgs[0].ID {
				t.Fatalf("after rollback Next = %+v, %v; want the same batch", again, err)
			}
		})
		t.Run("OK", func(t *testing.T) {
			if err := db.InTx(ctx, func(tx *store.Tx) error { return f.AckTx(ctx, tx, msgs) }); err != nil {
				t.Fatal(err)
			}
			rest, err := f.Next(ctx, 10)
			if err != nil || len(rest) != 2 || rest[0].Account != 3 {
				t.Fatalf("after AckTx Next = %+v, %v; want accounts 3 and 4", rest, err)
			}
		})
		t.Run("ErrCursorMoved", func(t *testing.T) {
			// A second reader of the feed that read the same batch before the
			// first committed it.
			err := db.InTx(ctx, func(tx *store.Tx) error { return f.AckTx(ctx, tx, msgs) })
			if !errors.Is(err, webhook.ErrCursorMoved) {
				t.Fatalf("second AckTx of one batch = %v, want ErrCursorMoved", err)
			}
			// A batch that overlaps the acked one is refused too.
			rest, _ := f.Next(ctx, 10)
			err = db.InTx(ctx, func(tx *store.Tx) error { return f.AckTx(ctx, tx, append([]webhook.Message{msgs[1]}, rest...)) })
			if !errors.Is(err, webhook.ErrCursorMoved) {
				t.Fatalf("AckTx of an overlapping batch = %v, want ErrCursorMoved", err)
			}
			if err := db.InTx(ctx, func(tx *store.Tx) error { return f.AckTx(ctx, tx, rest) }); err != nil {
				t.Fatal(err)
			}
			if left, err := f.Next(ctx, 10); err != nil || len(left) != 0 {
				t.Fatalf("after the last AckTx Next = %+v, %v", left, err)
			}
		})
		t.Run("WithoutCursorRow", func(t *testing.T) {
			g := webhook.NewFeed(db, "fresh")
			if err := db.InTx(ctx, func(tx *store.Tx) error { return g.AckTx(ctx, tx, msgs) }); err != nil {
				t.Fatal(err)
			}
			rest, err := g.Next(ctx, 10)
			if err != nil || len(rest) != 2 || rest[0].Account != 3 {
				t.Fatalf("Next = %+v, %v; want accounts 3 and 4", rest, err)
			}
		})
	})
}
