package partner_test

import (
	"context"
	"testing"

	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// BenchmarkVerify measures a full verification of a signed 1 KiB request:
// header checks, cached secret lookup, HMAC, and the nonce insert.
//
//	go test -run XXX -bench Verify -benchtime 3s ./partner/
func BenchmarkVerify(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, partner.Migrations)
			s := mustService(b, db)
			secret := mustRegister(b, s, "eleme", partner.ScopeEventsWrite)
			body := make([]byte, 1024)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				h := signed(db, "eleme", secret, "POST", "/v1/events", body)
				b.StartTimer()
				if _, err := s.Verify(ctx, "POST", "/v1/events", h, body, partner.ScopeEventsWrite); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyParallel is BenchmarkVerify from many goroutines, as a
// busy server would call it.
func BenchmarkVerifyParallel(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, partner.Migrations)
			s := mustService(b, db)
			secret := mustRegister(b, s, "eleme", partner.ScopeEventsWrite)
			body := make([]byte, 1024)
			ctx := context.Background()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					h := signed(db, "eleme", secret, "POST", "/v1/events", body)
					if _, err := s.Verify(ctx, "POST", "/v1/events", h, body, partner.ScopeEventsWrite); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
