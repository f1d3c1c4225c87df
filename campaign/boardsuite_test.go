package campaign

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/opencarbon/opencarbon/store/storetest"
)

// redisURL is where Redis tests find Redis.
func redisURL() string {
	if u := os.Getenv("OPENCARBON_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// testRedis returns a client and a key prefix unique to tb; the prefix's
// keys are deleted when tb ends. It skips (or fails with
// OPENCARBON_REQUIRE_SERVICES=1) when Redis does not answer.
func testRedis(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	opt, err := redis.ParseURL(redisURL())
	if err != nil {
		tb.Fatalf("OPENCARBON_TEST_REDIS: %v", err)
	}
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		storetest.SkipOrFail(tb, "redis at "+redisURL()+" does not answer: "+err.Error())
	}
	var b [6]byte
	rand.Read(b[:])
	prefix := "octest:" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		flushPrefix(context.Background(), rdb, prefix)
		rdb.Close()
	})
	return rdb, prefix
}

// flushPrefix deletes every key under prefix (a Redis restart without
// persistence, for one test's keys).
func flushPrefix(ctx context.Context, rdb *redis.Client, prefix string) {
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Unlink(ctx, iter.Val())
	}
}

// backends runs fn on every Board backend: the shared suite.
func backends(t *testing.T, fn func(t *testing.T, newBoard func() Board)) {
	t.Run("memory", func(t *testing.T) { fn(t, func() Board { return NewMemBoard() }) })
	t.Run("redis", func(t *testing.T) {
		rdb, prefix := testRedis(t)
		n := 0
		fn(t, func() Board { n++; return NewRedisBoard(rdb, fmt.Sprintf("%s%d:", prefix, n)) })
	})
}

var t0 = time.Date(2022, 8, 8, 0, 0, 0, 0, time.UTC)

func set(k BoardKey, acc, ver, score int64, at time.Time) Update {
	return Update{Key: k, Account: acc, Version: ver, Entry: Entry{Account: acc, Score: score, ReachedAt: at}}
}

func TestBoardSuite(t *testing.T) {
	ctx := context.Background()
	k := BoardKey{"c1", "GD"}
	other := BoardKey{"c1", "BJ"}
	backends(t, func(t *testing.T, newBoard func() Board) {
		t.Run("OrderAndTies", func(t *testing.T) {
			b := newBoard()
			must(t, b.Apply(ctx, []Update{
				set(k, 1, 1, 500, t0.Add(3*time.Second)),
				set(k, 2, 1, 900, t0.Add(5*time.Second)),
				set(k, 3, 1, 500, t0.Add(1*time.Second)), // same score, reached earlier: ranks before 1
				set(k, 4, 1, 500, t0.Add(1*time.Second)), // full tie: lower account first
				set(other, 5, 1, 10_000, t0),
			}))
			top, err := b.Top(ctx, k, 10)
			must(t, err)
			if got := accounts(top); !slices.Equal(got, []int64{2, 3, 4, 1}) {
				t.Fatalf("order = %v, want [2 3 4 1]", got)
			}
			for acc, want := range map[int64]int64{2: 1, 3: 2, 4: 3, 1: 4, 9: 0} {
				r, e, err := b.Rank(ctx, k, acc)
				must(t, err)
				if r != want || (want > 0 && e.Account != acc) {
					t.Errorf("rank(%d) = %d %+v, want %d", acc, r, e, want)
				}
			}
			if n, _ := b.Len(ctx, k); n != 4 {
				t.Errorf("len = %d, want 4", n)
			}
			top, _ = b.Top(ctx, k, 2)
			if len(top) != 2 || top[0].Score != 900 || !top[0].ReachedAt.Equal(t0.Add(5*time.Second)) {
				t.Errorf("top 2 = %+v", top)
			}
		})
		t.Run("UpdateMovesAndStaleVersionIgnored", func(t *testing.T) {
			b := newBoard()
			must(t, b.Apply(ctx, []Update{set(k, 1, 1, 100, t0), set(k, 2, 1, 200, t0)}))
			must(t, b.Apply(ctx, []Update{set(k, 1, 3, 300, t0.Add(time.Minute))}))
			must(t, b.Apply(ctx, []Update{set(k, 1, 2, 50, t0)})) // late, older version
			r, e, _ := b.Rank(ctx, k, 1)
			if r != 1 || e.Score != 300 {
				t.Fatalf("after stale update rank=%d score=%d, want 1 300", r, e.Score)
			}
			must(t, b.Apply(ctx, []Update{set(k, 1, 3, 1, t0)})) // replay of the same version
			if _, e, _ := b.Rank(ctx, k, 1); e.Score != 300 {
				t.Fatalf("replayed version changed the score to %d", e.Score)
			}
		})
		t.Run("RemoveAndReAdd", func(t *testing.T) {
			b := newBoard()
			must(t, b.Apply(ctx, []Update{set(k, 1, 1, 100, t0), set(k, 2, 1, 200, t0)}))
			must(t, b.Apply(ctx, []Update{{Key: k, Account: 2, Version: 2, Remove: true}}))
			if r, _, _ := b.Rank(ctx, k, 2); r != 0 {
				t.Fatalf("removed account still ranked %d", r)
			}
			if r, _, _ := b.Rank(ctx, k, 1); r != 1 {
				t.Fatalf("rank(1) = %d after removal, want 1", r)
			}
			must(t, b.Apply(ctx, []Update{set(k, 2, 1, 999, t0)})) // stale re-add
			if r, _, _ := b.Rank(ctx, k, 2); r != 0 {
				t.Fatalf("stale re-add was applied")
			}
			must(t, b.Apply(ctx, []Update{set(k, 2, 3, 999, t0)}))
			if r, _, _ := b.Rank(ctx, k, 2); r != 1 {
				t.Fatalf("re-add rank = %d, want 1", r)
			}
		})
		t.Run("ViewMatchesTopLenRank", func(t *testing.T) {
			b := newBoard()
			if v, err := b.View(ctx, k, 10, 1); err != nil || len(v.Top) != 0 || v.Len != 0 || v.Rank != 0 {
				t.Fatalf("empty board view = %+v, %v", v, err)
			}
			must(t, b.Apply(ctx, []Update{set(k, 1, 1, 100, t0), set(k, 2, 1, 300, t0), set(k, 3, 1, 200, t0),
				set(other, 4, 1, 50, t0)}))
			must(t, b.Apply(ctx, []Update{{Key: k, Account: 3, Version: 2, Remove: true}}))
			for _, c := range []struct {
				n         int
				acc, rank int64
				top       []int64
			}{{1, 1, 2, []int64{2}}, {10, 2, 1, []int64{2, 1}}, {2, 0, 0, []int64{2, 1}},
				{1, 3, 0, []int64{2}}, {1, 4, 0, []int64{2}}, {1, 9, 0, []int64{2}}} {
				v, err := b.View(ctx, k, c.n, c.acc)
				must(t, err)
				if got := accounts(v.Top); !slices.Equal(got, c.top) || v.Len != 2 || v.Rank != c.rank {
					t.Errorf("View(%d, %d) = top %v len %d rank %d, want %v 2 %d", c.n, c.acc, got, v.Len, v.Rank, c.top, c.rank)
				}
			}
		})
		t.Run("ExtremeValues", func(t *testing.T) {
			b := newBoard()
			must(t, b.Apply(ctx, []Update{
				set(k, 1, 1, math.MaxInt64, t0),
				set(k, 2, 1, math.MaxInt64-1, t0),
				set(k, 3, 1, 1<<53+1, t0),
				set(k, 4, 1, 1<<53, t0),
				set(k, math.MaxInt64, 1, 0, t0),
			}))
			top, _ := b.Top(ctx, k, 10)
			if got := accounts(top); !slices.Equal(got, []int64{1, 2, 3, 4, math.MaxInt64}) {
				t.Fatalf("order = %v", got)
			}
			if top[2].Score != 1<<53+1 {
				t.Fatalf("score lost precision: %d", top[2].Score)
			}
		})
		t.Run("DropAndReady", func(t *testing.T) {
			b := newBoard()
			if ok, _ := b.Ready(ctx, k); ok {
				t.Fatal("new board ready")
			}
			must(t, b.Apply(ctx, []Update{set(k, 1, 5, 100, t0)}))
			must(t, b.MarkReady(ctx, k))
			if ok, _ := b.Ready(ctx, k); !ok {
				t.Fatal("not ready after MarkReady")
			}
			must(t, b.Drop(ctx, k))
			if n, _ := b.Len(ctx, k); n != 0 {
				t.Fatalf("len after drop = %d", n)
			}
			if ok, _ := b.Ready(ctx, k); ok {
				t.Fatal("ready after drop")
			}
			must(t, b.Apply(ctx, []Update{set(k, 1, 1, 7, t0)})) // versions forgotten
			if _, e, _ := b.Rank(ctx, k, 1); e.Score != 7 {
				t.Fatalf("score after drop+apply = %d", e.Score)
			}
		})
		t.Run("MatchesReferenceSort", func(t *testing.T) {
			b := newBoard()
			rng := mrand.New(mrand.NewPCG(1, 2))
			ref := map[int64]Entry{}
			ver := map[int64]int64{}
			for i := 0; i < 2000; i++ {
				acc := rng.Int64N(300) + 1
				ver[acc]++
				if rng.IntN(6) == 0 {
					delete(ref, acc)
					must(t, b.Apply(ctx, []Update{{Key: k, Account: acc, Version: ver[acc], Remove: true}}))
					continue
				}
				e := Entry{Account: acc, Score: rng.Int64N(50) * 1000, ReachedAt: t0.Add(time.Duration(rng.IntN(20)) * time.Second)}
				ref[acc] = e
				must(t, b.Apply(ctx, []Update{{Key: k, Account: acc, Version: ver[acc], Entry: e}}))
			}
			want := make([]Entry, 0, len(ref))
			for _, e := range ref {
				want = append(want, e)
			}
			slices.SortFunc(want, func(a, b Entry) int {
				if a.less(b) {
					return -1
				}
				return 1
			})
			got, err := b.Top(ctx, k, len(want)+5)
			must(t, err)
			if len(got) != len(want) {
				t.Fatalf("len %d, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i].Account != want[i].Account || got[i].Score != want[i].Score || !got[i].ReachedAt.Equal(want[i].ReachedAt) {
					t.Fatalf("position %d: %+v, want %+v", i, got[i], want[i])
				}
				if r, _, _ := b.Rank(ctx, k, want[i].Account); r != int64(i+1) {
					t.Fatalf("rank(%d) = %d, want %d", want[i].Account, r, i+1)
				}
			}
		})
	})
}

func accounts(es []Entry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Account
	}
	return out
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
