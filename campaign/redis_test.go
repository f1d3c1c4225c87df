package campaign

import (
	"context"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestTwoServersOneRedis runs two services ("server processes") on one
// database and one Redis, consuming the same feed concurrently, then
// simulates a Redis restart (its keys flushed) and a rebuild.
func TestTwoServersOneRedis(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		rdb, prefix := testRedis(t)
		a, clk := setup(t, db, NewRedisBoard(rdb, prefix))
		b := NewService(db, NewRedisBoard(rdb, prefix))
		const people = 40
		for acc := int64(1); acc <= people; acc++ {
			_, err := a.Join(ctx, "88week-2022", acc, "GD", "")
			must(t, err)
		}
		clk.set(sh(2022, 8, 12, 0, 0, 0, 0))
		rng := rand.New(rand.NewPCG(7, 7))
		want := map[int64]int64{}
		var refs []string
		for i := 0; i < 300; i++ {
			acc := rng.Int64N(people) + 1
			mg := (rng.Int64N(5) + 1) * 1000 // many ties
			at := sh(2022, 8, 9, 0, 0, 0, 0).Add(time.Duration(rng.IntN(3600)) * time.Second)
			refs = append(refs, credit(t, db, acc, mg, at, at))
			want[acc] += mg
			if i%10 == 0 {
				reverse(t, db, acc, mg, refs[len(refs)-1], at.Add(time.Minute))
				want[acc] -= mg
			}
		}
		var wg sync.WaitGroup
		for _, s := range []*Service{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); drain(t, db, s, FeedName) }()
		}
		wg.Wait()
		drain(t, db, a, FeedName)
		check := func(stage string) {
			t.Helper()
			for acc, mg := range want {
				if got := scoreOf(t, a, acc); got != mg {
					t.Fatalf("%s: score of %d = %d, want %d", stage, acc, got, mg)
				}
			}
			la, err := a.Leaderboard(ctx, "88week-2022", "GD", 100, 0)
			must(t, err)
			lb, err := b.Leaderboard(ctx, "88week-2022", "GD", 100, 0)
			must(t, err)
			if !reflect.DeepEqual(la, lb) {
				t.Fatalf("%s: servers disagree:\n%+v\n%+v", stage, la.Top, lb.Top)
			}
			for acc := int64(1); acc <= people; acc++ {
				ra, _, _ := a.Board().Rank(ctx, BoardKey{"88week-2022", "GD"}, acc)
				rb, _, _ := b.Board().Rank(ctx, BoardKey{"88week-2022", "GD"}, acc)
				if ra != rb {
					t.Fatalf("%s: rank of %d: %d vs %d", stage, acc, ra, rb)
				}
			}
			// Compare with ranks computed from the database alone.
			mem := NewMemBoard()
			ups, err := a.snapshot(ctx, BoardKey{"88week-2022", "GD"})
			must(t, err)
			must(t, mem.Apply(ctx, ups))
			ref, _ := mem.Top(ctx, BoardKey{"88week-2022", "GD"}, 100)
			if len(ref) != len(la.Top) {
				t.Fatalf("%s: %d entries, want %d", stage, len(la.Top), len(ref))
			}
			for i, e := range ref {
				if la.Top[i].ScoreMG != e.Score || !la.Top[i].ReachedAt.Equal(e.ReachedAt) || la.Top[i].Name != MaskedName("88week-2022", e.Account) {
					t.Fatalf("%s: rank %d = %+v, want %+v", stage, i+1, la.Top[i], e)
				}
			}
		}
		check("after concurrent consumers")

		flushPrefix(ctx, rdb, prefix) // Redis restarted without its data
		if n, _ := b.Board().Len(ctx, BoardKey{"88week-2022", "GD"}); n != 0 {
			t.Fatalf("flush left %d entries", n)
		}
		built, err := b.Sync(ctx)
		must(t, err)
		if built != 1 {
			t.Fatalf("sync built %d boards, want 1", built)
		}
		// A replay after the restart must not count anything twice.
		_, err = db.Write().ExecContext(ctx, `DELETE FROM outbox_cursors`)
		must(t, err)
		drain(t, db, a, FeedName)
		check("after flush, rebuild and replay")
		if built, _ := a.Sync(ctx); built != 0 {
			t.Fatalf("second sync rebuilt %d boards", built)
		}
	})
}
