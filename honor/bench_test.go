package honor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

// BenchmarkHandleMessages feeds the medal consumer batches of 500
// credit.created messages (what Feed.Run hands it under ingest) for 400
// accounts, occurrence spread over 20 days, and reports messages/s.
//
//	go test ./honor -run '^$' -bench HandleMessages -benchtime 20x
func BenchmarkHandleMessages(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, comps...)
			s, err := NewService(db, Config{Key: testKey})
			must(b, err)
			ctx := context.Background()
			start := time.Date(2026, 3, 1, 9, 0, 0, 0, StreakZone)
			n := 0
			batch := func() []webhook.Message {
				msgs := make([]webhook.Message, 500)
				for i := range msgs {
					n++
					body := webhook.CreditBody{Ref: fmt.Sprintf("evt:tmall:b%d", n), EventID: fmt.Sprint(n), Partner: "tmall",
						Account: int64(n%400 + 1), Sub: int64(n%400 + 1), Behavior: "tmall.low_carbon_product", Scenario: "use",
						MG: 15_900, Points: 15, CalcID: "c", OccurredAt: start.AddDate(0, 0, n%20), CreditedAt: start}
					msgs[i] = webhook.Message{ID: int64(n), Topic: webhook.TopicCreditCreated, Body: mustJSON(b, body)}
				}
				return msgs
			}
			var elapsed time.Duration
			for b.Loop() {
				msgs := batch()
				t0 := time.Now()
				must(b, s.HandleMessages(ctx, msgs))
				elapsed += time.Since(t0)
			}
			b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
		})
	}
}
