package honor

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

// benchPeople is a world of 400 people whose credits are posted through
// the intake ("use", tmall.low_carbon_product), as the benchmarks' load:
// credit n goes to person n mod 400, on day n mod 23 of a 23-day window
// (23 is prime to 400, so a person's credits fall on every day in turn;
// the yearly cap allows about 185 credits a person, 74,000 in all).
type benchPeople struct {
	w    *world
	accs []int64
	n    int
}

func newBenchPeople(b *testing.B, db *store.DB) *benchPeople {
	p := &benchPeople{w: newWorld(b, db)}
	for range 400 {
		p.accs = append(p.accs, p.w.open())
	}
	return p
}

// post credits size events, one Submit (one group commit).
func (p *benchPeople) post(b *testing.B, size int) {
	start := sh(2026, 10, 1, 9, 0)
	evs := make([]intake.Event, size)
	for i := range evs {
		p.n++
		evs[i] = p.w.event(p.accs[p.n%len(p.accs)], "use", start.AddDate(0, 0, p.n%23))
	}
	out, err := p.w.in.Submit(context.Background(), "tmall", evs)
	must(b, err)
	for _, o := range out {
		if o.Status != intake.StatusCredited {
			b.Fatalf("%+v", o)
		}
	}
}

// next posts size credits and returns them as the medal feed hands them
// over (at least size messages, unacked before).
func (p *benchPeople) next(b *testing.B, f *webhook.Feed, size int) []webhook.Message {
	p.post(b, size)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		msgs, err := f.Next(context.Background(), runBatch)
		must(b, err)
		if len(msgs) >= size || time.Now().After(deadline) {
			return msgs
		}
	}
}

// newBenchFeed returns 400 people, a medal service and the medal feed on a
// new database of dialect d.
func newBenchFeed(b *testing.B, d store.Dialect) (*benchPeople, *Service, *webhook.Feed) {
	db := storetest.Open(b, d, comps...)
	p := newBenchPeople(b, db)
	s, err := NewService(db, Config{Key: testKey})
	must(b, err)
	return p, s, webhook.NewFeed(db, FeedName)
}

// benchLoop runs one until about 1,000 messages are handled (every person
// has credits and medals, the statements are prepared), then reset, then
// one per b.Loop.
func benchLoop(b *testing.B, size int, one, reset func()) {
	for range max(1, 1000/size) {
		one()
	}
	reset()
	for b.Loop() {
		one()
	}
}

// BenchmarkHandleMessages feeds the medal consumer batches of
// credit.created messages of real credits for 400 accounts, occurrence
// spread over 23 days: batches of 500 (a backlog, what Feed.Next hands it
// at most) and of 8 (what a consumer that reads as soon as it is done sees
// under a few hundred events/s). It reports messages/s and the process
// CPU per message (user+system, so it includes the SQLite engine and the
// driver) of HandleMessages alone.
//
//	go test ./honor -run '^$' -bench HandleMessages -benchtime 40x
func BenchmarkHandleMessages(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		for _, size := range []int{8, 500} {
			b.Run(fmt.Sprintf("%s/batch=%d", d, size), func(b *testing.B) {
				p, s, f := newBenchFeed(b, d)
				ctx := context.Background()
				var elapsed, cpu time.Duration
				handled := 0
				one := func() {
					msgs := p.next(b, f, size)
					t0, cpu0 := time.Now(), cpuTime()
					must(b, s.HandleMessages(ctx, msgs))
					elapsed, cpu, handled = elapsed+time.Since(t0), cpu+cpuTime()-cpu0, handled+len(msgs)
					must(b, f.Ack(ctx, msgs[len(msgs)-1]))
				}
				benchLoop(b, size, one, func() { elapsed, cpu, handled = 0, 0, 0 })
				b.ReportMetric(float64(handled)/elapsed.Seconds(), "msgs/s")
				b.ReportMetric(float64(cpu.Microseconds())/float64(handled), "cpu-us/msg")
			})
		}
	}
}

// BenchmarkWriterHold runs what Run does with one batch read from a real
// feed, real credits for 400 accounts over 23 days, and reports how long
// the batch holds the writer per message (the part the SQLite intake waits
// for: the writer transaction that writes the batch and moves the cursor)
// and how long its reads take beside it (plan, on the read pool).
//
//	go test ./honor -run '^$' -bench WriterHold -benchtime 40x
func BenchmarkWriterHold(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		for _, size := range []int{8, 500} {
			b.Run(fmt.Sprintf("%s/batch=%d", d, size), func(b *testing.B) {
				p, s, f := newBenchFeed(b, d)
				ctx := context.Background()
				catalog, err := s.Catalog(ctx)
				must(b, err)
				var read, write time.Duration
				handled := 0
				one := func() {
					msgs := p.next(b, f, size)
					t0 := time.Now()
					pl, err := s.plan(ctx, msgs, catalog)
					must(b, err)
					t1 := time.Now()
					must(b, s.db.InTx(ctx, func(tx *store.Tx) error {
						if err := pl.writeTx(ctx, tx); err != nil {
							return err
						}
						return f.AckTx(ctx, tx, msgs)
					}))
					read, write, handled = read+t1.Sub(t0), write+time.Since(t1), handled+len(msgs)
				}
				benchLoop(b, size, one, func() { read, write, handled = 0, 0, 0 })
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

// BenchmarkRunTrickle runs the consumer (Run's loop) while one client
// posts single credits through the intake for 400 accounts, about one
// every 2.5 ms (~400/s, the shape of 64 clients sending single events),
// and reports the consumer's batches per 1,000 messages (each batch is one
// writer transaction, its feed ack included), the process CPU per message
// (the intake's included, the same in every variant) and the p99 of the
// client's Submit, which waits for the single SQLite writer whenever the
// consumer holds it. "eager" reads again as soon as a batch is done (what
// webhook.Feed.Run does); "paced" waits the poll interval after a partial
// batch (Run); "none" runs no consumer (the intake's own CPU and latency,
// to subtract).
//
//	go test ./honor -run '^$' -bench RunTrickle -benchtime 2000x
func BenchmarkRunTrickle(b *testing.B) {
	for _, v := range []struct {
		name         string
		afterPartial time.Duration
	}{{"none", -1}, {"eager", 0}, {"paced", 200 * time.Millisecond}} {
		b.Run("sqlite/"+v.name, func(b *testing.B) {
			db := storetest.Open(b, store.SQLite, comps...)
			p := newBenchPeople(b, db)
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
			var lat []time.Duration
			n := 0
			cpu0 := cpuTime()
			next := time.Now()
			for b.Loop() {
				n++
				t0 := time.Now()
				p.post(b, 1)
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
