package campaign

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

// BenchmarkCommitToRank writes credits at a steady rate (batches of
// OPENCARBON_BENCH_BATCH credits every 100 ms: 10,000 credits/s by
// default) while the outbox consumer runs, and measures for each batch the
// time from its commit until its probe member's new score is visible on
// the board. b.N is ignored beyond one 5-second run per dialect.
func BenchmarkCommitToRank(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, comps...)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			now := time.Now()
			db.Now = func() time.Time { return now.Add(-time.Hour).UTC() }
			s := NewService(db, NewMemBoard())
			c := Campaign{ID: "bench", TitleZH: "基准", TitleEN: "Bench", TimeZone: "UTC",
				Start: now.Add(-2 * time.Hour).UTC().Format(LocalLayout), End: now.Add(2 * time.Hour).UTC().Format(LocalLayout), Regions: []Region{{Code: "GD"}}}
			if _, err := s.Save(ctx, c, true); err != nil {
				b.Fatal(err)
			}
			const members = 10_000
			must(b, db.InTx(ctx, func(tx *store.Tx) error {
				for acc := 1; acc <= members; acc++ {
					if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_members (campaign_id, account_id, region, joined_at, reached_at) VALUES ('bench', $1, 'GD', $2, $2)`,
						acc, store.Micros(now.Add(-time.Hour))); err != nil {
						return err
					}
				}
				return nil
			}))
			db.Now = func() time.Time { return time.Now().UTC() }
			go s.Run(ctx, 20*time.Millisecond)
			batch := benchSize("OPENCARBON_BENCH_BATCH", 1000)
			rng := rand.New(rand.NewPCG(3, 3))
			type mark struct {
				at    time.Time
				score int64
			}
			marks := make(chan mark, 1000)
			done := make(chan []time.Duration)
			go func() { // the checker: when does each batch's probe score appear?
				var lat []time.Duration
				for m := range marks {
					for {
						_, e, _ := s.Board().Rank(ctx, BoardKey{"bench", "GD"}, 1)
						if e.Score >= m.score {
							break
						}
						if time.Since(m.at) > 60*time.Second {
							break
						}
						time.Sleep(500 * time.Microsecond)
					}
					lat = append(lat, time.Since(m.at))
				}
				done <- lat
			}()
			probeScore := int64(0)
			start := time.Now()
			n := 0
			for tick := 0; tick < 50; tick++ { // 5 s of writes
				time.Sleep(time.Until(start.Add(time.Duration(tick) * 100 * time.Millisecond)))
				at := time.Now()
				must(b, db.InTx(ctx, func(tx *store.Tx) error {
					// As the intake writes them: one multi-row enqueue per batch.
					msgs := make([]webhook.Msg, batch)
					for i := range msgs {
						acc := rng.Int64N(members-1) + 2
						if i == batch-1 {
							acc = 1 // the probe
						}
						msgs[i] = webhook.Msg{Topic: webhook.TopicCreditCreated, Partner: "b", Account: acc, Body: webhook.CreditBody{
							Ref: fmt.Sprintf("evt:b:%d", n+i), Partner: "b", Account: acc, Sub: acc, MG: 100, OccurredAt: at, CreditedAt: at}}
					}
					return webhook.EnqueueManyTx(ctx, tx, msgs)
				}))
				n += batch
				probeScore += 100
				marks <- mark{time.Now(), probeScore}
			}
			writeRate := float64(n) / time.Since(start).Seconds()
			close(marks)
			lat := <-done
			b.ReportMetric(writeRate, "credits/s")
			if len(lat) > 0 {
				b.ReportMetric(float64(maxDur(lat).Milliseconds()), "max-ms")
			}
			percentiles(b, lat)
		})
	}
}

func maxDur(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
