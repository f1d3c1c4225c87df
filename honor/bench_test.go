package honor

import (
	"context"
	"fmt"
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

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
