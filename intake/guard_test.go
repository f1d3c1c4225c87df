package intake_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// onceGuard accepts the first request that runs it in a committed
// transaction and refuses the others, like a partner nonce: it inserts a
// unique row.
func onceGuard(key string) intake.Guard {
	return intake.GuardFunc(func(ctx context.Context, tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO partner_nonces (partner, nonce, seen_at, expires_at) VALUES ('eleme', $1, 0, 0)
			ON CONFLICT (partner, nonce) DO NOTHING`, key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return oc.Errorf(oc.ENonceReused, "used")
		}
		return nil
	})
}

func TestSubmitGuarded(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, intake.Config{Shards: 2})
		a := e.open("g1", "eleme")
		e.open("g2", "eleme")
		nonces := func(key string) int64 {
			return count(t, db, `SELECT COUNT(*) FROM partner_nonces WHERE nonce = $1`, key)
		}

		out, err := e.svc.SubmitGuarded(ctx, "eleme", []intake.Event{cutlery("ga", "g1", "oa")}, onceGuard("n1"))
		if err != nil || out[0].Status != intake.StatusCredited || nonces("n1") != 1 {
			t.Fatalf("accepted: %v %+v", err, out)
		}
		mg := e.totalMG(a)
		t.Run("ErrRefusedWritesNothing", func(t *testing.T) {
			_, err := e.svc.SubmitGuarded(ctx, "eleme", []intake.Event{cutlery("gb", "g1", "ob")}, onceGuard("n1"))
			if oc.ErrorCode(err) != oc.ENonceReused {
				t.Fatalf("replay: %v", err)
			}
			if got := e.totalMG(a); got != mg {
				t.Fatalf("refused request credited: %d -> %d mg", mg, got)
			}
			// Had it been written, gb would now be a duplicate.
			if out := e.submit("eleme", cutlery("gb", "g1", "ob")); out[0].Status != intake.StatusCredited {
				t.Fatalf("gb after the refusal: %+v", out)
			}
		})
		t.Run("ErrDatabaseFailure", func(t *testing.T) {
			bad := intake.GuardFunc(func(ctx context.Context, tx *store.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO no_such_table VALUES (1)`)
				return err
			})
			if _, err := e.svc.SubmitGuarded(ctx, "eleme", []intake.Event{cutlery("gc", "g1", "oc")}, bad); err == nil || errors.As(err, new(*oc.Error)) {
				t.Fatalf("failing guard: %v", err)
			}
			if out := e.submit("eleme", cutlery("gc", "g1", "oc")); out[0].Status != intake.StatusCredited {
				t.Fatalf("gc after the failure: %+v", out)
			}
		})
		t.Run("OKNoShard", func(t *testing.T) {
			ev := cutlery("gd", "g1", "od")
			ev.Err = oc.Errorf(oc.EInvalid, "bad")
			out, err := e.svc.SubmitGuarded(ctx, "eleme", []intake.Event{ev}, onceGuard("n2"))
			if err != nil || out[0].Status != intake.StatusRejected || nonces("n2") != 1 {
				t.Fatalf("invalid only: %v %+v, nonce rows %d", err, out, nonces("n2"))
			}
			if _, err := e.svc.SubmitGuarded(ctx, "eleme", []intake.Event{ev}, onceGuard("n2")); oc.ErrorCode(err) != oc.ENonceReused {
				t.Fatalf("replay: %v", err)
			}
		})
		t.Run("OKNilGuardFunc", func(t *testing.T) {
			var none intake.GuardFunc
			if out, err := e.svc.SubmitGuarded(ctx, "eleme", []intake.Event{cutlery("gn", "g1", "on")}, none); err != nil || len(out) != 1 || out[0].Status == intake.StatusError {
				t.Fatalf("nil GuardFunc: %v %+v", err, out)
			}
		})
		t.Run("OKTwoShards", func(t *testing.T) {
			var evs []intake.Event
			for i := range 8 {
				evs = append(evs, cutlery(fmt.Sprintf("ge%d", i), fmt.Sprintf("g%d", 1+i%2), fmt.Sprintf("oe%d", i)))
			}
			out, err := e.svc.SubmitGuarded(ctx, "eleme", evs, onceGuard("n3"))
			if err != nil || nonces("n3") != 1 {
				t.Fatalf("two shards: %v", err)
			}
			for _, o := range out {
				if o.Status != intake.StatusCredited && o.Status != intake.StatusRejected {
					t.Fatalf("two shards: %+v", o)
				}
			}
			if _, err := e.svc.SubmitGuarded(ctx, "eleme", evs, onceGuard("n3")); oc.ErrorCode(err) != oc.ENonceReused {
				t.Fatalf("replay: %v", err)
			}
		})
		t.Run("ConcurrentReplaysOneAccepted", func(t *testing.T) {
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok, reused := 0, 0
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := e.svc.SubmitGuarded(ctx, "eleme", []intake.Event{cutlery(fmt.Sprintf("gf%d", i), "g1", fmt.Sprintf("of%d", i))}, onceGuard("n4"))
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case oc.ErrorCode(err) == oc.ENonceReused:
						reused++
					default:
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if ok != 1 || reused != 15 {
				t.Fatalf("%d accepted, %d refused; want 1 and 15", ok, reused)
			}
		})
	})
}
