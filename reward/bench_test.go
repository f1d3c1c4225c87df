package reward_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/opencarbon/opencarbon/reward"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// BenchmarkRedeemHotOffer measures redemptions per second when every
// request goes to one offer (one locked row): 64 people, each with plenty
// of points, redeem in parallel from GOMAXPROCS×8 goroutines.
//
//	go test -run '^$' -bench RedeemHotOffer -benchtime 2000x ./reward/
func BenchmarkRedeemHotOffer(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, comps...)
			e := newEnv(b, db)
			const people = 64
			for i := range people {
				p := fmt.Sprintf("b%02d", i)
				e.open(p)
				e.fund(p, "eleme", 1_000_000)
			}
			e.merchant("hot", "eleme")
			hot := e.offer(reward.OfferInput{Kind: reward.KindDiscount, Merchant: "hot", Title: "Hot", Points: 1, Stock: stock(reward.MaxStock)})
			var n atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					if _, err := e.rewards.Redeem(b.Context(), fmt.Sprintf("b%02d", i%people), hot.ID, fmt.Sprintf("k%d", i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "redemptions/s")
			if o, _ := e.rewards.Offer(b.Context(), hot.ID); o.Issued != int64(b.N) {
				b.Fatalf("issued %d; want %d", o.Issued, b.N)
			}
		})
	}
}
