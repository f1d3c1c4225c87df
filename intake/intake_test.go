package intake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/audit"
	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

func TestSubmitOutcomes(t *testing.T) {
	modes(t, func(t *testing.T, db *store.DB, slow bool) {
		e := newEnv(t, db, intake.Config{})
		if slow {
			intake.SlowOnly(e.svc)
		}
		e.open("alice", "eleme", "tmall", "cainiao")
		e.open("bob", "cainiao") // not linked to eleme
		now := time.Now().UTC().Truncate(time.Microsecond)
		metro := func(id, trip string, dist float64) intake.Event {
			return intake.Event{ID: id, Person: "alice", Behavior: "travel.metro_trip", OccurredAt: now.Add(-time.Hour),
				Params: map[string]any{"trip_id": trip, "city": "BJ", "distance": dist}, Evidence: map[string]any{"ride_record": "R"}}
		}
		waybill := func(id, partner, wb string) intake.Event {
			return intake.Event{ID: id, Person: "alice", Behavior: partner + ".e_waybill", OccurredAt: now.Add(-time.Hour),
				Params: map[string]any{"waybill_id": wb}, Evidence: map[string]any{"order_id": "T1"}}
		}
		future := cutlery("future", "alice", "F1")
		future.OccurredAt = now.Add(time.Hour)
		old := cutlery("old", "alice", "O1")
		old.OccurredAt = now.Add(-31 * 24 * time.Hour)
		noEvidence := cutlery("noev", "alice", "N1")
		noEvidence.Evidence = nil
		twoOrders := cutlery("two", "alice", "T2")
		twoOrders.Params["orders"] = 2
		unknown := cutlery("unknown", "alice", "U1")
		unknown.Behavior = "eleme.teleport"
		tests := []struct {
			name    string
			partner string
			ev      intake.Event
			status  string
			code    string
			mg      int64
		}{
			{"OK", "eleme", cutlery("ok", "alice", "E1"), intake.StatusCredited, "", 11130},
			{"ErrNoConsent", "eleme", cutlery("nc", "nobody", "E2"), intake.StatusRejected, oc.ENoConsent, 0},
			{"ErrPartnerNotLinked", "eleme", cutlery("nl", "bob", "E3"), intake.StatusRejected, oc.EPartnerNotLinked, 0},
			{"ErrUnknownBehavior", "eleme", unknown, intake.StatusRejected, oc.EUnknownBehavior, 0},
			{"ErrNotApplicable", "tmall", metro("short", "M1", 0.3), intake.StatusRejected, oc.ENotApplicable, 0},
			{"ErrParamOutOfRange", "eleme", twoOrders, intake.StatusRejected, oc.EParamOutOfRange, 0},
			{"ErrMissingEvidence", "eleme", noEvidence, intake.StatusRejected, oc.EMissingEvidence, 0},
			{"ErrReporterNotAllowed", "cainiao", cutlery("rna", "alice", "E4"), intake.StatusRejected, oc.EReporterNotAllowed, 0},
			{"ErrFuture", "eleme", future, intake.StatusRejected, oc.EFuture, 0},
			{"ErrTooOld", "eleme", old, intake.StatusRejected, oc.ETooOld, 0},
			{"WaybillOK", "tmall", waybill("wb1", "tmall", "YT1"), intake.StatusCredited, "", 1750},
			{"ErrExcludedBy", "cainiao", waybill("wb2", "cainiao", "YT1"), intake.StatusRejected, oc.EExcludedBy, 0},
			{"ErrExcludedBySameBehavior", "eleme", cutlery("ok-again", "alice", "E1"), intake.StatusRejected, oc.EExcludedBy, 0},
			{"SecondOrder", "eleme", cutlery("ok2", "alice", "E5"), intake.StatusCredited, "", 11130},
			{"ThirdOrder", "eleme", cutlery("ok3", "alice", "E6"), intake.StatusCredited, "", 11130},
			{"ErrCapReached", "eleme", cutlery("ok4", "alice", "E7"), intake.StatusRejected, oc.ECapReached, 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				out := e.submit(tc.partner, tc.ev)
				if len(out) != 1 {
					t.Fatalf("got %d outcomes", len(out))
				}
				o := out[0]
				if o.Status != tc.status || o.Code != tc.code || o.MG != tc.mg || o.EventID != tc.ev.ID {
					t.Fatalf("got %+v; want status %s code %q mg %d", o, tc.status, tc.code, tc.mg)
				}
				if tc.status == intake.StatusCredited && (o.CalcID == "" || o.Points < 0) {
					t.Fatalf("credited without calc id: %+v", o)
				}
			})
		}
		// Credited events add up in the ledger; rejections changed nothing.
		if got := e.totalMG(1); got != 3*11130+1750 {
			t.Fatalf("ledger mg = %d; want %d", got, 3*11130+1750)
		}
		// Remembered rejections answer duplicates; transient ones do not.
		if out := e.submit("eleme", noEvidence); out[0].Status != intake.StatusDuplicate || out[0].Original != intake.StatusRejected || out[0].Code != oc.EMissingEvidence {
			t.Fatalf("repeat of a remembered rejection: %+v", out[0])
		}
		e.open("carol", "eleme")
		nc := cutlery("nc", "nobody", "E2")
		if out := e.submit("eleme", nc); out[0].Code != oc.ENoConsent {
			t.Fatalf("no_consent is transient, got %+v", out[0])
		}
		if n := count(t, db, `SELECT COUNT(*) FROM intake_events WHERE status = 'rejected'`); n != 8 {
			t.Fatalf("remembered rejections = %d; want 8", n)
		}
		if n := e.svc.Stats().Fallbacks; n != 0 {
			t.Fatalf("%d batches fell back to savepoints without a failure", n)
		}
	})
}

func TestDuplicateAndConflict(t *testing.T) {
	modes(t, func(t *testing.T, db *store.DB, slow bool) {
		e := newEnv(t, db, intake.Config{})
		if slow {
			intake.SlowOnly(e.svc)
		}
		acct := e.open("alice", "eleme")
		ev := cutlery("d1", "alice", "E1")
		first := e.submit("eleme", ev)[0]
		if first.Status != intake.StatusCredited {
			t.Fatalf("first = %+v", first)
		}
		t.Run("Duplicate", func(t *testing.T) {
			again := e.submit("eleme", ev)[0]
			if again.Status != intake.StatusDuplicate || again.Original != intake.StatusCredited || again.MG != first.MG || again.CalcID != first.CalcID || again.Points != first.Points {
				t.Fatalf("duplicate = %+v; first %+v", again, first)
			}
		})
		t.Run("DuplicateInSameBatch", func(t *testing.T) {
			ev2 := cutlery("d2", "alice", "E2")
			out := e.submit("eleme", ev2, ev2)
			if out[0].Status != intake.StatusCredited || out[1].Status != intake.StatusDuplicate {
				t.Fatalf("same id twice in a batch: %+v", out)
			}
		})
		t.Run("ErrEventConflict", func(t *testing.T) {
			other := cutlery("d1", "alice", "E9")
			o := e.submit("eleme", other)[0]
			if o.Status != intake.StatusConflict || o.Code != oc.EEventConflict {
				t.Fatalf("conflict = %+v", o)
			}
		})
		if got := e.totalMG(acct); got != 2*11130 {
			t.Fatalf("ledger mg = %d; want %d", got, 2*11130)
		}
	})
}

// TestConcurrentOverlap: 32 goroutines send overlapping batches with
// repeated ids; each event is credited exactly once.
func TestConcurrentOverlap(t *testing.T) {
	modes(t, func(t *testing.T, db *store.DB, slow bool) {
		e := newEnv(t, db, intake.Config{Shards: 2}) // people on two writers
		if slow {
			intake.SlowOnly(e.svc)
		}
		const people, perPerson = 8, 3 // 3 orders fit the daily cap
		var accts []int64
		for p := 0; p < people; p++ {
			accts = append(accts, e.open(fmt.Sprintf("p%d", p), "eleme"))
		}
		var all []intake.Event
		for p := 0; p < people; p++ {
			for i := 0; i < perPerson; i++ {
				all = append(all, cutlery(fmt.Sprintf("ev-%d-%d", p, i), fmt.Sprintf("p%d", p), fmt.Sprintf("O-%d-%d", p, i)))
			}
		}
		var wg sync.WaitGroup
		credited := make([]int, len(all))
		var mu sync.Mutex
		for g := 0; g < 32; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each goroutine sends an overlapping window, twice.
				start := (g * 5) % len(all)
				var batch []intake.Event
				idx := []int{}
				for k := 0; k < 12; k++ {
					i := (start + k) % len(all)
					batch = append(batch, all[i])
					idx = append(idx, i)
				}
				for r := 0; r < 2; r++ {
					out, err := e.svc.Submit(context.Background(), "eleme", batch)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for n, o := range out {
						switch o.Status {
						case intake.StatusCredited:
							credited[idx[n]]++
						case intake.StatusDuplicate:
							if o.Original != intake.StatusCredited {
								t.Errorf("duplicate of a non-credit: %+v", o)
							}
						default:
							t.Errorf("unexpected outcome %+v", o)
						}
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for i, n := range credited {
			if n != 1 {
				t.Fatalf("event %s answered credited %d times", all[i].ID, n)
			}
		}
		for _, a := range accts {
			if got := e.totalMG(a); got != perPerson*11130 {
				t.Fatalf("account %d mg = %d; want %d", a, got, perPerson*11130)
			}
		}
		if n := count(t, db, `SELECT COALESCE(SUM(n), 0) FROM calc_blocks`); n != int64(len(all)) {
			t.Fatalf("calc records = %d; want %d", n, len(all))
		}
		problems, _, err := audit.Verify(context.Background(), db, e.eng)
		if err != nil || len(problems) != 0 {
			t.Fatalf("verify: %v %v", problems, err)
		}
		if n := e.svc.Stats().Fallbacks; n != 0 {
			t.Fatalf("%d batches fell back to savepoints", n)
		}
	})
}

// TestCapRace: many events race for the last room of a daily cap from
// concurrent requests (and, on PostgreSQL, several shards and services);
// the cap holds.
func TestCapRace(t *testing.T) {
	modes(t, func(t *testing.T, db *store.DB, slow bool) {
		e := newEnv(t, db, intake.Config{})
		if slow {
			intake.SlowOnly(e.svc)
		}
		acct := e.open("alice", "eleme")
		// A second service on the same database: another process.
		other := intake.NewService(db, fixedEngine{e.eng}, intake.Config{Shards: 3})
		defer other.Close()
		if slow {
			intake.SlowOnly(other)
		}
		var wg sync.WaitGroup
		for g := 0; g < 10; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				svc := e.svc
				if g%2 == 1 {
					svc = other
				}
				_, err := svc.Submit(context.Background(), "eleme", []intake.Event{cutlery(fmt.Sprintf("race-%d", g), "alice", fmt.Sprintf("R%d", g))})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got := e.totalMG(acct); got != 33390 {
			t.Fatalf("credited %d mg; the daily cap is 33390", got)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM intake_events WHERE code = 'cap_reached'`); n != 7 {
			t.Fatalf("cap_reached = %d; want 7", n)
		}
	})
}

// TestActRace: two services (two processes, with different shards) credit
// the same act of many people at once; each act is credited once and the
// other event refused excluded_by. The services' writers read the acts
// before either commits, so the unique index on the event rows' acts is
// what refuses the second.
func TestActRace(t *testing.T) {
	modes(t, func(t *testing.T, db *store.DB, slow bool) {
		e := newEnv(t, db, intake.Config{Shards: 2})
		other := intake.NewService(db, fixedEngine{e.eng}, intake.Config{Shards: 3})
		defer other.Close()
		if slow {
			intake.SlowOnly(e.svc)
			intake.SlowOnly(other)
		}
		const people = 60
		for p := range people {
			e.open(fmt.Sprintf("p%d", p), "eleme")
		}
		var wg sync.WaitGroup
		for p := range people {
			for k, svc := range []*intake.Service{e.svc, other} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ev := cutlery(fmt.Sprintf("act-%d-%d", p, k), fmt.Sprintf("p%d", p), fmt.Sprintf("ORDER-%d", p))
					if _, err := svc.Submit(context.Background(), "eleme", []intake.Event{ev}); err != nil {
						t.Error(err)
					}
				}()
			}
		}
		wg.Wait()
		if n := count(t, db, `SELECT COUNT(*) FROM intake_events WHERE COALESCE(status, 'credited') = 'credited'`); n != people {
			t.Fatalf("%d credited; want one per act (%d)", n, people)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM intake_events WHERE code = 'excluded_by'`); n != people {
			t.Fatalf("%d excluded_by; want %d", n, people)
		}
	})
}

func TestRevokedConsentStopsCredits(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, intake.Config{})
		acct := e.open("alice", "eleme")
		if o := e.submit("eleme", cutlery("a", "alice", "E1"))[0]; o.Status != intake.StatusCredited {
			t.Fatalf("before revoke: %+v", o)
		}
		if _, err := e.accounts.Revoke(context.Background(), "alice", "eleme"); err != nil {
			t.Fatal(err)
		}
		if o := e.submit("eleme", cutlery("b", "alice", "E2"))[0]; o.Code != oc.EPartnerNotLinked {
			t.Fatalf("after revoke: %+v", o)
		}
		if got := e.totalMG(acct); got != 11130 {
			t.Fatalf("mg = %d after revoke", got)
		}
		// Relinking lets the same event through: the refusal was not remembered.
		if _, err := e.accounts.Link(context.Background(), "alice", "eleme"); err != nil {
			t.Fatal(err)
		}
		if o := e.submit("eleme", cutlery("b", "alice", "E2"))[0]; o.Status != intake.StatusCredited {
			t.Fatalf("after relink: %+v", o)
		}
	})
}

func TestReverse(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, intake.Config{})
		acct := e.open("alice", "eleme")
		ctx := context.Background()
		r1 := cutlery("r1", "alice", "E1")
		first := e.submit("eleme", r1, cutlery("r2", "alice", "E2"))[0]
		t.Run("ErrReasonRequired", func(t *testing.T) {
			if _, err := e.svc.Reverse(ctx, "eleme", "r1", " "); oc.ErrorCode(err) != oc.EInvalid {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("ErrNotCredited", func(t *testing.T) {
			if _, err := e.svc.Reverse(ctx, "eleme", "nope", "refund"); oc.ErrorCode(err) != oc.ENotCredited {
				t.Fatalf("err = %v", err)
			}
			if _, err := e.svc.Reverse(ctx, "cainiao", "r1", "refund"); oc.ErrorCode(err) != oc.ENotCredited {
				t.Fatalf("other partner: err = %v", err)
			}
		})
		t.Run("OK", func(t *testing.T) {
			r, err := e.svc.Reverse(ctx, "eleme", "r1", "order refunded")
			if err != nil || r.MG != 11130 {
				t.Fatalf("reverse = %+v, %v", r, err)
			}
			again, err := e.svc.Reverse(ctx, "eleme", "r1", "another reason")
			if err != nil || *again != *r {
				t.Fatalf("second reverse = %+v, %v; want %+v", again, err, r)
			}
			if got := e.totalMG(acct); got != 11130 {
				t.Fatalf("mg after reversal = %d", got)
			}
			if n := count(t, db, `SELECT COUNT(*) FROM outbox WHERE topic = 'credit.reversed'`); n != 1 {
				t.Fatalf("credit.reversed messages = %d", n)
			}
			// The message names the sub-account and calc record of the
			// credit, which the event row leaves to its ledger transaction.
			var body string
			if err := db.Read().QueryRow(`SELECT body FROM outbox WHERE topic = 'credit.reversed'`).Scan(&body); err != nil {
				t.Fatal(err)
			}
			var msg webhook.CreditBody
			if err := json.Unmarshal([]byte(body), &msg); err != nil || msg.Sub <= 0 || msg.CalcID != first.CalcID || msg.CalcID == "" {
				t.Fatalf("credit.reversed body %s (%v); want sub > 0 and calc id %q", body, err, first.CalcID)
			}
			dup := e.submit("eleme", r1)[0]
			if dup.Status != intake.StatusDuplicate || !dup.Reversed {
				t.Fatalf("duplicate of reversed = %+v", dup)
			}
			// The act and the cap room are released: the order can be reported again.
			if o := e.submit("eleme", cutlery("r1-corrected", "alice", "E1"))[0]; o.Status != intake.StatusCredited {
				t.Fatalf("after reversal the act is free: %+v", o)
			}
		})
	})
}

func TestReadSide(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, intake.Config{})
		acct := e.open("alice", "eleme", "tmall")
		ctx := context.Background()
		var evs []intake.Event
		for i := 0; i < 3; i++ {
			evs = append(evs, cutlery(fmt.Sprintf("c%d", i), "alice", fmt.Sprintf("E%d", i)))
		}
		evs = append(evs, intake.Event{ID: "m1", Person: "alice", Behavior: "travel.metro_trip", OccurredAt: time.Now().UTC().Add(-time.Minute),
			Params: map[string]any{"trip_id": "M1", "city": "BJ", "distance": 10.0}, Evidence: map[string]any{"ride_record": "R"}})
		e.submit("eleme", evs[:3]...)
		e.submit("tmall", evs[3])
		day := time.Now().In(e.eng.Location())
		from := day.AddDate(0, 0, -1)
		for _, by := range []string{"scenario", "partner", "day", "month"} {
			t.Run("Footprint/"+by, func(t *testing.T) {
				fp, err := e.svc.Footprint(ctx, acct, from, day, by)
				if err != nil {
					t.Fatal(err)
				}
				if fp.TotalMG != 3*11130+1055000 {
					t.Fatalf("total = %d", fp.TotalMG)
				}
				want := map[string]int{"scenario": 2, "partner": 2, "day": 1, "month": 1}[by]
				if len(fp.Buckets) != want {
					t.Fatalf("buckets = %+v", fp.Buckets)
				}
			})
		}
		t.Run("ErrFootprintBy", func(t *testing.T) {
			if _, err := e.svc.Footprint(ctx, acct, from, day, "week"); oc.ErrorCode(err) != oc.EInvalid {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("Entries", func(t *testing.T) {
			page, next, err := e.svc.Entries(ctx, acct, "", 3)
			if err != nil || len(page) != 3 || next == "" || page[0].EventID != "m1" {
				t.Fatalf("page 1 = %+v %q %v", page, next, err)
			}
			page2, next2, err := e.svc.Entries(ctx, acct, next, 3)
			if err != nil || len(page2) != 1 || next2 != "" || page2[0].EventID != "c0" {
				t.Fatalf("page 2 = %+v %q %v", page2, next2, err)
			}
		})
		t.Run("Export", func(t *testing.T) {
			all, err := e.svc.Export(ctx, acct)
			if es, ok := all.([]intake.Entry); err != nil || !ok || len(es) != 4 {
				t.Fatalf("export = %v %v", all, err)
			}
		})
		t.Run("Calc", func(t *testing.T) {
			page, _, _ := e.svc.Entries(ctx, acct, "", 1)
			v, err := e.svc.Calc(ctx, page[0].CalcID, "en")
			if err != nil || v.AccountID != acct || v.Calc.ResultMG != 1055000 || v.Explanation == "" || len(v.Calc.Factors) == 0 {
				t.Fatalf("calc = %+v %v", v, err)
			}
			if _, err := e.svc.Calc(ctx, "0-999999", "en"); oc.ErrorCode(err) != oc.ENotFound {
				t.Fatalf("missing calc: %v", err)
			}
		})
	})
}

// modes runs fn on both dialects with the set-based fast path ("batch") and
// with the event-by-event savepoint path it falls back to ("savepoints").
func modes(t *testing.T, fn func(t *testing.T, db *store.DB, slow bool)) {
	for _, slow := range []bool{false, true} {
		name := "batch"
		if slow {
			name = "savepoints"
		}
		t.Run(name, func(t *testing.T) {
			storetest.Each(t, comps, func(t *testing.T, db *store.DB) { fn(t, db, slow) })
		})
	}
}

// TestSameIDAcrossShards: the same event id for two people lands on two
// shard writers at once; exactly one is credited and the other is a
// conflict (on PostgreSQL the loser's set-based batch fails on the unique
// key and is redone event by event).
func TestSameIDAcrossShards(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, intake.Config{Shards: 4})
		const people = 8
		for p := 0; p < people; p++ {
			e.open(fmt.Sprintf("x%d", p), "tmall")
		}
		for r := 0; r < 10; r++ {
			id := fmt.Sprintf("same-%d", r)
			var wg sync.WaitGroup
			outs := make([]intake.Outcome, people)
			for p := 0; p < people; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					order := fmt.Sprintf("O-%d-%d", r, p)
					outs[p] = e.submit("tmall", intake.Event{ID: id, Person: fmt.Sprintf("x%d", p), Behavior: "tmall.low_carbon_product",
						OccurredAt: time.Now().UTC().Add(-time.Minute).Truncate(time.Second),
						Params:     map[string]any{"order_id": order, "kwh_saved": 1.0}, Evidence: map[string]any{"order_id": order}})[0]
				}()
			}
			wg.Wait()
			credited := 0
			for _, o := range outs {
				switch o.Status {
				case intake.StatusCredited:
					credited++
				case intake.StatusConflict:
				default:
					t.Fatalf("round %d: %+v", r, o)
				}
			}
			if credited != 1 {
				t.Fatalf("round %d: %d credited: %+v", r, credited, outs)
			}
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ledger_tx t JOIN intake_events e ON e.id = t.id
			WHERE t.kind = 'credit' AND e.partner = 'tmall' AND e.event_id LIKE 'same-%'`); n != 10 {
			t.Fatalf("ledger credits = %d; want 10", n)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ledger_tx t WHERE t.kind = 'credit' AND NOT EXISTS (SELECT 1 FROM intake_events e WHERE e.id = t.id)`); n != 0 {
			t.Fatalf("%d ledger credits without an event row", n)
		}
	})
}

// TestYearCapAcrossDays: the yearly cap counts what was credited on every
// earlier day of the year (the year's usage row), plus what the same batch
// credits; the calc record states it; a reversal gives the room back.
func TestYearCapAcrossDays(t *testing.T) {
	modes(t, func(t *testing.T, db *store.DB, slow bool) {
		e := newEnv(t, db, intake.Config{})
		if slow {
			intake.SlowOnly(e.svc)
		}
		loc := e.eng.Location()
		now := time.Now().In(loc)
		if now.YearDay() <= 12 {
			t.Skip("the seeded days would include today")
		}
		acct := e.open("alice", "eleme")
		ctx := context.Background()
		// 4,975,110 mg over ten earlier days of this year (the yearly cap of
		// eleme.no_cutlery is 5,000,000 mg), and a day of last year.
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO intake_names (name) VALUES ('eleme.no_cutlery'), ('eat') ON CONFLICT (name) DO NOTHING`); err != nil {
				return err
			}
			// Day rows and their years' rows (day = -year), as the writer
			// keeps them.
			for d := 1; d <= 13; d++ {
				day, mg := now.Year()*10000+100+d, int64(497511)
				switch d {
				case 11:
					day, mg = (now.Year()-1)*10000+1231, 4000000
				case 12:
					day, mg = -(now.Year() - 1), 4000000
				case 13:
					day, mg = -now.Year(), 4975110
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO intake_usage (account_id, day, behavior_id, partner, scenario_id, mg, events)
					VALUES ($1, $2, (SELECT id FROM intake_names WHERE name = 'eleme.no_cutlery'), 'eleme', (SELECT id FROM intake_names WHERE name = 'eat'), $3, 1)`,
					acct, day, mg); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		out := e.submit("eleme", cutlery("y1", "alice", "Y1"), cutlery("y2", "alice", "Y2"), cutlery("y3", "alice", "Y3"), cutlery("y4", "alice", "Y4"))
		if n := intake.UsageMisses(e.svc); !slow && n != 0 {
			t.Errorf("%d usage reads outside the batch's prefetch", n)
		}
		var mg []int64
		for _, o := range out {
			mg = append(mg, o.MG)
		}
		if mg[0] != 11130 || mg[1] != 11130 || mg[2] != 24890-22260 || out[3].Code != "cap_reached" {
			t.Fatalf("credited %v, outcomes %+v; want 11130, 11130, 2630 and cap_reached (24,890 mg of room left in the year)", mg, out)
		}
		c, err := e.svc.Calc(ctx, out[1].CalcID, "en")
		if err != nil || c.Calc.UsedYearMG != 4975110+11130 || c.Calc.UsedDayMG != 11130 {
			t.Fatalf("calc of the second event: %+v %v", c, err)
		}
		if _, err := e.svc.Reverse(ctx, "eleme", "y1", "test"); err != nil {
			t.Fatal(err)
		}
		out = e.submit("eleme", cutlery("y5", "alice", "Y5"))
		if out[0].MG != 11130 {
			t.Fatalf("after reversing 11,130 mg: %+v", out[0])
		}
		// The year rows hold exactly the sum of their days.
		if n := count(t, db, `SELECT COUNT(*) FROM (SELECT account_id, behavior_id, partner, day / 10000 AS y, SUM(mg) AS mg FROM intake_usage WHERE day > 0 GROUP BY 1, 2, 3, 4) d
			JOIN intake_usage u ON u.account_id = d.account_id AND u.behavior_id = d.behavior_id AND u.partner = d.partner AND u.day = -d.y AND u.mg = d.mg`); n != 2 {
			t.Fatalf("%d year rows match their days; want 2", n)
		}
	})
}

// TestStoredForms: where a credit's amounts and time are stored depends on
// the path and the database (on PostgreSQL the group commit leaves mg,
// points, created_at and status to the ledger transaction; the savepoint
// path and SQLite keep them in the event row), and every reader answers
// the same.
func TestStoredForms(t *testing.T) {
	modes(t, func(t *testing.T, db *store.DB, slow bool) {
		e := newEnv(t, db, intake.Config{})
		if slow {
			intake.SlowOnly(e.svc)
		}
		acct := e.open("alice", "eleme")
		ctx := context.Background()
		start := time.Now()
		late := cutlery("late", "alice", "L1")
		late.OccurredAt = time.Now().Add(-400 * 24 * time.Hour)
		f1 := cutlery("f1", "alice", "F1")
		out := e.submit("eleme", f1, late)
		credit := out[0]
		if credit.Status != intake.StatusCredited || credit.MG != 11130 || credit.Points != 11 || out[1].Code != "too_old" {
			t.Fatalf("outcomes: %+v", out)
		}
		wantNull := int64(0)
		if db.Dialect == store.Postgres && !slow {
			wantNull = 1
		}
		if n := count(t, db, `SELECT COUNT(*) FROM intake_events WHERE mg IS NULL AND points IS NULL AND created_at IS NULL AND status IS NULL`); n != wantNull {
			t.Fatalf("%d event rows leave their amounts and status to the ledger; want %d", n, wantNull)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM intake_events WHERE event_id = 'late' AND mg = 0 AND created_at > 0`); n != 1 {
			t.Fatal("the remembered rejection lost its amounts or time")
		}
		es, _, err := e.svc.Entries(ctx, acct, "", 10)
		if err != nil || len(es) != 1 {
			t.Fatalf("entries: %+v %v", es, err)
		}
		if got := es[0]; got.MG != credit.MG || got.Points != credit.Points || got.CalcID != credit.CalcID ||
			got.CreditedAt.Before(start.Add(-time.Second)) || got.CreditedAt.After(time.Now()) {
			t.Fatalf("entry %+v; want the credit %+v, credited after %v", got, credit, start)
		}
		again := e.submit("eleme", f1)[0]
		if again.Status != intake.StatusDuplicate || again.Original != intake.StatusCredited || again.MG != credit.MG || again.Points != credit.Points || again.CalcID != credit.CalcID {
			t.Fatalf("repeat: %+v; want the credit %+v", again, credit)
		}
		r, err := e.svc.Reverse(ctx, "eleme", "f1", "refund")
		if err != nil || r.MG != credit.MG || r.Points != credit.Points {
			t.Fatalf("reversal: %+v %v; want the credit's amounts", r, err)
		}
	})
}
