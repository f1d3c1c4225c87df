package campaign

import (
	"context"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Benchmarks of the two board backends (docs/benchmarks.md has the
// numbers and the commands). Sizes: OPENCARBON_BENCH_MEMBERS (in process,
// default 1,000,000) and OPENCARBON_BENCH_REDIS_MEMBERS (default 1,000,000).

func benchSize(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchUpdates returns n members with scores drawn so that many tie.
func benchUpdates(k BoardKey, n int) []Update {
	rng := rand.New(rand.NewPCG(1, 1))
	ups := make([]Update, n)
	for i := range ups {
		acc := int64(i + 1)
		ups[i] = Update{Key: k, Account: acc, Version: 1, Entry: Entry{Account: acc, Score: rng.Int64N(50_000) * 100,
			ReachedAt: t0.Add(time.Duration(rng.IntN(864_000)) * time.Second)}}
	}
	return ups
}

// percentiles reports p50 and p99 of ds as benchmark metrics.
func percentiles(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), "p99-µs")
}

var benchMem struct {
	board  *MemBoard
	n      int
	perMem float64
}

func memBoardFor(b *testing.B) (*MemBoard, int) {
	k := BoardKey{"bench", "GD"}
	n := benchSize("OPENCARBON_BENCH_MEMBERS", 1_000_000)
	if benchMem.board == nil || benchMem.n != n {
		ups := benchUpdates(k, n)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		mb := NewMemBoard()
		start := time.Now()
		mb.Apply(context.Background(), ups)
		b.Logf("in-process board: %d members built in %v", n, time.Since(start))
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(ups) // measured on both sides: only the board counts
		benchMem.board, benchMem.n = mb, n
		benchMem.perMem = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	}
	return benchMem.board, n
}

func BenchmarkMemBoardRank(b *testing.B) {
	mb, n := memBoardFor(b)
	k := BoardKey{"bench", "GD"}
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		if r, _, _ := mb.Rank(context.Background(), k, int64(i%n+1)); r == 0 {
			b.Fatal("member not ranked")
		}
		ds = append(ds, time.Since(t))
	}
	percentiles(b, ds)
	b.ReportMetric(benchMem.perMem, "B/member")
}

func BenchmarkMemBoardTop100(b *testing.B) {
	mb, _ := memBoardFor(b)
	k := BoardKey{"bench", "GD"}
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		if top, _ := mb.Top(context.Background(), k, 100); len(top) != 100 {
			b.Fatal("short top")
		}
		ds = append(ds, time.Since(t))
	}
	percentiles(b, ds)
}

func BenchmarkMemBoardUpdate(b *testing.B) {
	mb, n := memBoardFor(b)
	k := BoardKey{"bench", "GD"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		acc := int64(i%n + 1)
		mb.Apply(context.Background(), []Update{{Key: k, Account: acc, Version: int64(i + 2), Entry: Entry{Account: acc, Score: int64(i), ReachedAt: t0}}})
	}
}

// redisBench loads the Redis board once per process.
var redisBench struct {
	rdb    *redis.Client
	prefix string
	n      int
	perMem float64
}

func redisBoardFor(b *testing.B) (*RedisBoard, int) {
	k := BoardKey{"bench", "GD"}
	n := benchSize("OPENCARBON_BENCH_REDIS_MEMBERS", 1_000_000)
	if redisBench.rdb == nil {
		rdb, prefix := testRedis(b) // deleted when this benchmark ends
		redisBench.rdb, redisBench.prefix = rdb, prefix
		rb := NewRedisBoard(rdb, prefix)
		before := usedMemory(b, rdb)
		start := time.Now()
		const slab = 1_000_000
		for off := 0; off < n; off += slab {
			ups := benchUpdates(k, min(n, off+slab))[off:]
			if err := rb.BulkLoad(context.Background(), k, ups, 1000); err != nil {
				b.Fatal(err)
			}
		}
		redisBench.perMem = float64(usedMemory(b, rdb)-before) / float64(n)
		b.Logf("redis board: %d members loaded in %v (%.0f/s), %.0f B/member", n, time.Since(start),
			float64(n)/time.Since(start).Seconds(), redisBench.perMem)
		redisBench.n = n
		b.Cleanup(func() { redisBench.rdb = nil })
	}
	return NewRedisBoard(redisBench.rdb, redisBench.prefix), redisBench.n
}

func usedMemory(b *testing.B, rdb *redis.Client) int64 {
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

func BenchmarkRedisBoard(b *testing.B) {
	rb, n := redisBoardFor(b)
	k := BoardKey{"bench", "GD"}
	if got, _ := rb.Len(context.Background(), k); got != int64(n) {
		b.Fatalf("board has %d members, want %d", got, n)
	}
	b.Run("Rank", func(b *testing.B) {
		ds := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			t := time.Now()
			if r, _, err := rb.Rank(context.Background(), k, int64(i%n+1)); r == 0 || err != nil {
				b.Fatal("member not ranked", err)
			}
			ds = append(ds, time.Since(t))
		}
		percentiles(b, ds)
		b.ReportMetric(redisBench.perMem, "B/member")
	})
	b.Run("Top100", func(b *testing.B) {
		ds := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			t := time.Now()
			if top, err := rb.Top(context.Background(), k, 100); len(top) != 100 || err != nil {
				b.Fatal("short top", err)
			}
			ds = append(ds, time.Since(t))
		}
		percentiles(b, ds)
	})
}
