package honor

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

// BenchmarkHandleMessages feeds the medal consumer batches of
// credit.created messages for 400 accounts, occurrence spread over 20
// days: batches of 500 (a backlog, what Feed.Next hands it at most) and of
// 8 (what a consumer that reads as soon as it is done sees under a few
// hundred events/s). It reports messages/s and the process CPU per
// message (user+system, so it includes the SQLite engine and the driver).
//
//	go test ./honor -run '^$' -bench HandleMessages -benchtime 40x
func BenchmarkHandleMessages(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		for _, size := range []int{8, 500} {
			b.Run(fmt.Sprintf("%s/batch=%d", d, size), func(b *testing.B) {
				benchHandle(b, d, size)
			})
		}
	}
}

func benchHandle(b *testing.B, d store.Dialect, size int) {
	db := storetest.Open(b, d, comps...)
	s, err := NewService(db, Config{Key: testKey})
	must(b, err)
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, StreakZone)
	n := 0
	batch := func() []webhook.Message {
		msgs := make([]webhook.Message, size)
		for i := range msgs {
			n++
			body := webhook.CreditBody{Ref: fmt.Sprintf("evt:tmall:b%d", n), EventID: fmt.Sprint(n), Partner: "tmall",
				Account: int64(n%400 + 1), Sub: int64(n%400 + 1), Behavior: "tmall.low_carbon_product", Scenario: "use",
				MG: 15_900, Points: 15, CalcID: "c", OccurredAt: start.AddDate(0, 0, n%20), CreditedAt: start}
			msgs[i] = webhook.Message{ID: int64(n), Topic: webhook.TopicCreditCreated, Body: mustJSON(b, body)}
		}
		return msgs
	}
	// Warm up: every account has stats and days, statements are prepared.
	for range max(1, 1000/size) {
		must(b, s.HandleMessages(ctx, batch()))
	}
	n0 := n
	var elapsed time.Duration
	cpu0 := cpuTime()
	for b.Loop() {
		msgs := batch()
		t0 := time.Now()
		must(b, s.HandleMessages(ctx, msgs))
		elapsed += time.Since(t0)
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(n-n0)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n-n0), "cpu-us/msg")
}

// BenchmarkWriterHold runs what Run does with one batch read from a real
// feed, credits for 400 accounts over 20 days, and reports how long the
// batch holds the writer per message (the part the SQLite intake waits
// for: the writer transaction that writes the batch and moves the cursor)
// and how long its reads take beside it (plan, on the read pool).
//
//	go test ./honor -run '^$' -bench WriterHold -benchtime 40x
func BenchmarkWriterHold(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		for _, size := range []int{8, 500} {
			b.Run(fmt.Sprintf("%s/batch=%d", d, size), func(b *testing.B) {
				db := storetest.Open(b, d, comps...)
				s, err := NewService(db, Config{Key: testKey})
				must(b, err)
				ctx := context.Background()
				f := webhook.NewFeed(db, FeedName)
				catalog, err := s.Catalog(ctx)
				must(b, err)
				start := time.Date(2026, 3, 1, 9, 0, 0, 0, StreakZone)
				n := 0
				next := func() []webhook.Message {
					ms := make([]webhook.Msg, size)
					for i := range ms {
						n++
						ms[i] = webhook.Msg{Topic: webhook.TopicCreditCreated, Account: int64(n%400 + 1), Body: webhook.CreditBody{
							Ref: fmt.Sprintf("evt:tmall:w%d", n), EventID: fmt.Sprint(n), Partner: "tmall", Account: int64(n%400 + 1), Sub: int64(n%400 + 1),
							Behavior: "tmall.low_carbon_product", Scenario: "use", MG: 15_900, Points: 15, CalcID: "c",
							OccurredAt: start.AddDate(0, 0, n%20), CreditedAt: start}}
					}
					must(b, db.InTx(ctx, func(tx *store.Tx) error { return webhook.EnqueueManyTx(ctx, tx, ms) }))
					for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
						msgs, err := f.Next(ctx, runBatch)
						must(b, err)
						if len(msgs) >= size || time.Now().After(deadline) {
							return msgs
						}
					}
				}
				var read, write time.Duration
				handled := 0
				one := func() {
					msgs := next()
					t0 := time.Now()
					p, err := s.plan(ctx, db.Read(), db.Dialect, msgs, catalog, false)
					must(b, err)
					t1 := time.Now()
					must(b, db.InTx(ctx, func(tx *store.Tx) error {
						if err := p.writeTx(ctx, tx); err != nil {
							return err
						}
						return f.AckTx(ctx, tx, msgs)
					}))
					read, write, handled = read+t1.Sub(t0), write+time.Since(t1), handled+len(msgs)
				}
				for range max(1, 1000/size) {
					one()
				}
				read, write, handled = 0, 0, 0
				for b.Loop() {
					one()
				}
				b.ReportMetric(float64(write.Microseconds())/float64(handled), "writer-us/msg")
				b.ReportMetric(float64(read.Microseconds())/float64(handled), "read-us/msg")
			})
		}
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRunTrickle runs the consumer (Run's loop) while one writer
// enqueues credit.created messages for 400 accounts, one a transaction,
// about every 2.5 ms (~400/s, the shape of 64 clients sending single
// events), and reports the consumer's batches per 1,000 messages (each
// batch is one writer transaction, its feed ack included), the
// process CPU per message (producer included, the same in both variants)
// and the p99 of the producer's transactions, which wait for the single
// SQLite writer whenever the consumer holds it. "eager" reads again as
// soon as a batch is done (what webhook.Feed.Run does); "paced" waits the
// poll interval after a partial batch (Run); "none" runs no consumer (the
// producer's own CPU and latency, to subtract).
//
//	go test ./honor -run '^$' -bench RunTrickle -benchtime 2000x
func BenchmarkRunTrickle(b *testing.B) {
	for _, v := range []struct {
		name         string
		afterPartial time.Duration
	}{{"none", -1}, {"eager", 0}, {"paced", 200 * time.Millisecond}} {
		b.Run("sqlite/"+v.name, func(b *testing.B) {
			db := storetest.Open(b, store.SQLite, comps...)
			s, err := NewService(db, Config{Key: testKey})
			must(b, err)
			ctx, cancel := context.WithCancel(context.Background())
			var batches, handled atomic.Int64
			done := make(chan error, 1)
			go func() {
				if v.afterPartial < 0 {
					<-ctx.Done()
					done <- nil
					return
				}
				done <- s.run(ctx, 200*time.Millisecond, v.afterPartial, func(ms []webhook.Message) {
					batches.Add(1)
					handled.Add(int64(len(ms)))
				})
			}()
			start := time.Date(2026, 3, 1, 9, 0, 0, 0, StreakZone)
			var lat []time.Duration
			n := 0
			cpu0 := cpuTime()
			next := time.Now()
			for b.Loop() {
				n++
				body := webhook.CreditBody{Ref: fmt.Sprintf("evt:tmall:t%d", n), EventID: fmt.Sprint(n), Partner: "tmall",
					Account: int64(n%400 + 1), Sub: 1, Scenario: "use", MG: 15_900, Points: 15, CalcID: "c",
					OccurredAt: start.AddDate(0, 0, n%20), CreditedAt: start}
				t0 := time.Now()
				must(b, db.InTx(ctx, func(tx *store.Tx) error {
					return webhook.EnqueueTx(ctx, tx, webhook.TopicCreditCreated, "", body.Account, body)
				}))
				lat = append(lat, time.Since(t0))
				next = next.Add(2500 * time.Microsecond)
				time.Sleep(time.Until(next))
			}
			for deadline := time.Now().Add(30 * time.Second); v.afterPartial >= 0 && handled.Load() < int64(n) && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			cpu := cpuTime() - cpu0
			cancel()
			<-done
			slices.Sort(lat)
			b.ReportMetric(float64(batches.Load())*1000/float64(n), "batches/1k-msgs")
			b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-us/msg")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "producer-p99-ms")
		})
	}
}
