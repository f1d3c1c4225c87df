package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

// must returns v, panicking on err: for values a test cannot go on
// without.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// creditBodies returns n credits alternating between two partners, with
// two behaviors, a ref that is not the default one, and strings JSON
// must escape.
func creditBodies(n int, at time.Time) []webhook.CreditBody {
	out := make([]webhook.CreditBody, n)
	for i := range out {
		p := []string{"eleme", "tmall"}[i%2]
		id := fmt.Sprintf("e-%d", i)
		b := webhook.CreditBody{Ref: "evt:" + p + ":" + id, EventID: id, Partner: p, Account: int64(100 + i), Sub: int64(1000 + i),
			Behavior: []string{"eleme.no_cutlery", "tmall.e_waybill"}[i%3%2], Scenario: []string{"eat", "use"}[i%2],
			MG: int64(15900 + i), Points: int64(i % 16), CalcID: fmt.Sprintf("0-%d", i+1),
			OccurredAt: at.Add(-time.Duration(i) * time.Minute), CreditedAt: at}
		switch i {
		case 3:
			b.Ref = "grant:<special>"
		case 4:
			b.EventID = `quote"and\backslash<>&`
			b.Ref = "evt:" + p + ":" + b.EventID
		}
		out[i] = b
	}
	return out
}

// TestEnqueueCredits: the credits of a batch, written as batch rows on
// both databases (one row per partner), read from a feed exactly as if each were
// its own row: in order, same bodies, ids unique and increasing, a cursor
// inside a row, Next's bound honoured at row boundaries, and pruning.
func TestEnqueueCredits(t *testing.T) {
	storetest.Each(t, []store.Component{webhook.Migrations}, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC)
		bodies := creditBodies(9, at)
		before := map[string]int{"n": 0}
		err := db.InTx(ctx, func(tx *store.Tx) error {
			tx.Now = at
			if err := webhook.EnqueueTx(ctx, tx, webhook.TopicVoucherIssued, "eleme", 7, before); err != nil {
				return err
			}
			if err := webhook.EnqueueCreditsTx(ctx, tx, bodies); err != nil {
				return err
			}
			return webhook.EnqueueTx(ctx, tx, webhook.TopicVoucherIssued, "tmall", 8, before)
		})
		if err != nil {
			t.Fatal(err)
		}
		f := webhook.NewFeed(db, "credits")
		got := nextN(t, f, 11)
		// The batch's credits come grouped by partner, each group in order.
		var want []webhook.CreditBody
		for _, p := range []string{"eleme", "tmall"} {
			for _, b := range bodies {
				if b.Partner == p {
					want = append(want, b)
				}
			}
		}
		if got[0].Topic != webhook.TopicVoucherIssued || got[10].Topic != webhook.TopicVoucherIssued || got[10].Account != 8 {
			t.Fatalf("messages around the credits = %+v, %+v", got[0], got[10])
		}
		for i, m := range got[1:10] {
			// No JSON is encoded unless asked for: Data encodes the body,
			// and a message marshals with it.
			if m.Body != nil {
				t.Fatalf("credit %d of a batch row has a Body: %s", i, m.Body)
			}
			var b webhook.CreditBody
			if err := json.Unmarshal(must(m.Data()), &b); err != nil {
				t.Fatal(err)
			}
			var whole struct {
				ID   int64              `json:"id"`
				Body webhook.CreditBody `json:"body"`
			}
			if err := json.Unmarshal(must(json.Marshal(m)), &whole); err != nil || whole.ID != m.ID || whole.Body.EventID != b.EventID {
				t.Fatalf("credit %d marshalled: %+v, %v", i, whole, err)
			}
			// Credit gives what Body says, without decoding it again.
			if c, err := m.Credit(); err != nil || !c.OccurredAt.Equal(b.OccurredAt) || !c.CreditedAt.Equal(b.CreditedAt) ||
				c.Ref != b.Ref || c.EventID != b.EventID || c.Account != b.Account || c.MG != b.MG || c.Behavior != b.Behavior {
				t.Fatalf("credit %d: Credit() = %+v, %v; Body says %+v", i, c, err, b)
			}
			w := want[i]
			if !b.OccurredAt.Equal(w.OccurredAt) || !b.CreditedAt.Equal(w.CreditedAt) {
				t.Fatalf("credit %d times = %v, %v; want %v, %v", i, b.OccurredAt, b.CreditedAt, w.OccurredAt, w.CreditedAt)
			}
			b.OccurredAt, b.CreditedAt, w.OccurredAt, w.CreditedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if !reflect.DeepEqual(b, w) || m.Topic != webhook.TopicCreditCreated || m.Partner != w.Partner || m.Account != w.Account {
				t.Fatalf("credit %d = %+v %+v; want %+v", i, m, b, w)
			}
		}
		for i := 1; i < len(got); i++ {
			if got[i].ID <= got[i-1].ID {
				t.Fatalf("ids not increasing at %d: %d after %d", i, got[i].ID, got[i-1].ID)
			}
		}
		// A bound cuts at a row boundary: never half a row, never nothing.
		if first, _ := f.Next(ctx, 2); len(first) != 1+5 {
			t.Fatalf("Next(2) = %d messages; want the voucher and the whole eleme row (6)", len(first))
		}
		// A cursor inside a row: the rest of the row comes next.
		if err := f.Ack(ctx, got[3]); err != nil {
			t.Fatal(err)
		}
		// The acked part of a row does not count against the bound: 3 is
		// the eleme row's last 2 and then the whole tmall row.
		if part, err := f.Next(ctx, 3); err != nil || len(part) != 2+4 || part[0].ID != got[4].ID {
			t.Fatalf("Next(3) after acking message 3: %d messages, %v; want 6 from %d", len(part), err, got[4].ID)
		}
		rest, err := f.Next(ctx, 100)
		if err != nil || len(rest) != 7 || rest[0].ID != got[4].ID {
			t.Fatalf("after acking message 3: %d messages from %v, %v; want 7 from %d", len(rest), rest, err, got[4].ID)
		}
		// Prune keeps a row until every message in it is acknowledged.
		if err := f.Ack(ctx, got[9]); err != nil {
			t.Fatal(err)
		}
		if _, err := webhook.Prune(ctx, db, time.Nanosecond); err != nil {
			t.Fatal(err)
		}
		if left, err := f.Next(ctx, 100); err != nil || len(left) != 1 || left[0].ID != got[10].ID {
			t.Fatalf("after pruning = %+v, %v; want only the last voucher", left, err)
		}
		// Refused: a batch of credits of different times, or a reversal.
		for _, bad := range [][]webhook.CreditBody{
			{bodies[0], {EventID: "x", Partner: "eleme", CreditedAt: at.Add(time.Second)}},
			{{EventID: "x", Partner: "eleme", CreditedAt: at, ReversedAt: at}},
		} {
			if err := db.InTx(ctx, func(tx *store.Tx) error { return webhook.EnqueueCreditsTx(ctx, tx, bad) }); err == nil {
				t.Fatalf("EnqueueCreditsTx(%+v) = nil; want an error", bad)
			}
		}
	})
}

// TestEnqueueCreditsBlocks: batches larger than one row holds, written by
// concurrent transactions (PostgreSQL draws each row's block of ids from
// the sequence while another writer draws its own), come out of the feed
// complete, each writer's credits in order, every id unique.
func TestEnqueueCreditsBlocks(t *testing.T) {
	storetest.Each(t, []store.Component{webhook.Migrations}, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		const writers, batches, size = 4, 3, webhook.CreditBlock + 300
		errs := make(chan error, writers)
		for w := range writers {
			go func() {
				for b := range batches {
					bodies := make([]webhook.CreditBody, size)
					for i := range bodies {
						id := fmt.Sprintf("w%d-b%d-%d", w, b, i)
						bodies[i] = webhook.CreditBody{Ref: "evt:eleme:" + id, EventID: id, Partner: "eleme", Account: int64(w + 1), Sub: int64(i),
							Behavior: "eleme.no_cutlery", Scenario: "eat", MG: 15900, Points: 15, CalcID: "0-1", OccurredAt: at, CreditedAt: at}
					}
					if err := db.InTx(ctx, func(tx *store.Tx) error { return webhook.EnqueueCreditsTx(ctx, tx, bodies) }); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for range writers {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		got := nextN(t, webhook.NewFeed(db, "blocks"), writers*batches*size)
		seen := map[int64]bool{}
		next := map[int64]int{} // per writer, the next credit expected
		for _, m := range got {
			if seen[m.ID] {
				t.Fatalf("id %d twice", m.ID)
			}
			seen[m.ID] = true
			var b webhook.CreditBody
			if err := json.Unmarshal(must(m.Data()), &b); err != nil {
				t.Fatal(err)
			}
			n := next[b.Account]
			if want := fmt.Sprintf("w%d-b%d-%d", b.Account-1, n/size, n%size); b.EventID != want {
				t.Fatalf("writer %d: credit %s; want %s", b.Account-1, b.EventID, want)
			}
			next[b.Account] = n + 1
		}
	})
}

// TestMessageCredit: a credit message of its own row (a reversal) is
// decoded by Credit from its Body.
func TestMessageCredit(t *testing.T) {
	storetest.Each(t, []store.Component{webhook.Migrations}, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		b := creditBodies(1, at)[0]
		b.ReversedAt, b.Reason = at.Add(time.Hour), "refund"
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			return webhook.EnqueueTx(ctx, tx, webhook.TopicCreditReversed, b.Partner, b.Account, b)
		}); err != nil {
			t.Fatal(err)
		}
		m := nextN(t, webhook.NewFeed(db, "reversals"), 1)[0]
		c, err := m.Credit()
		if err != nil || !c.ReversedAt.Equal(b.ReversedAt) || c.Reason != b.Reason || c.EventID != b.EventID || c.MG != b.MG {
			t.Fatalf("Credit() = %+v, %v; want %+v", c, err, b)
		}
	})
}

// BenchmarkNextBacklog reads Next(500) from a feed 200 batch rows of 1,000
// credits behind (a consumer catching up after 1000-event requests): a
// read should cost what its 500 messages cost, not what the rows after
// them would.
//
//	go test ./webhook -run '^$' -bench NextBacklog -benchtime 20x
func BenchmarkNextBacklog(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, webhook.Migrations)
			ctx := context.Background()
			at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			for range 200 {
				bodies := creditBodies(1000, at)
				for i := range bodies {
					bodies[i].Partner, bodies[i].Ref = "eleme", "evt:eleme:"+bodies[i].EventID
				}
				if err := db.InTx(ctx, func(tx *store.Tx) error { return webhook.EnqueueCreditsTx(ctx, tx, bodies) }); err != nil {
					b.Fatal(err)
				}
			}
			f := webhook.NewFeed(db, "backlog")
			nextN(b, f, 1000) // visible (PostgreSQL: every older writer has ended)
			for b.Loop() {
				if msgs, err := f.Next(ctx, 500); err != nil || len(msgs) != 1000 {
					b.Fatalf("Next(500) = %d messages, %v; want one row of 1000", len(msgs), err)
				}
			}
		})
	}
}

// TestPruneBatchRows: one pruning transaction deletes about 20,000
// messages (a whole batch row at least), however few rows hold them, so
// deleting credit batch rows never holds the writer long. On PostgreSQL
// it counts them by each row's n, which migration 5 sets on batch rows
// written before migration 4.
func TestPruneBatchRows(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Open(t, d, storetest.Before(t, webhook.Migrations, 5))
			// 25,000 credits of two partners: 13 rows each (12 × 1,024 and 212).
			if err := db.InTx(ctx, func(tx *store.Tx) error { return webhook.EnqueueCreditsTx(ctx, tx, creditBodies(25_000, at)) }); err != nil {
				t.Fatal(err)
			}
			if d == store.Postgres {
				storetest.Exec(t, db, `UPDATE outbox SET n = 1`) // as rows written before migration 4
			}
			if err := db.Migrate(ctx, webhook.Migrations); err != nil {
				t.Fatal(err)
			}
			f := webhook.NewFeed(db, "all")
			got := nextN(t, f, 25_000)
			if err := f.Ack(ctx, got[len(got)-1]); err != nil {
				t.Fatal(err)
			}
			// The 13 eleme rows (12,500 messages) and 8 of tmall's (8,192):
			// fewer than 20,000 messages come before each.
			if n, err := webhook.PruneTx(ctx, db, time.Nanosecond); err != nil || n != 21 {
				t.Fatalf("one prune transaction: %d rows, %v; want 21", n, err)
			}
			if n, err := webhook.Prune(ctx, db, time.Nanosecond); err != nil || n != 5 {
				t.Fatalf("Prune = %d rows, %v; want the other 5", n, err)
			}
			if left, err := f.Next(ctx, 10); err != nil || len(left) != 0 {
				t.Fatalf("after pruning: %d messages, %v; want none", len(left), err)
			}
		})
	}
}
