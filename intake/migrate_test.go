package intake_test

import (
	"context"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestMigrateNames: rows written under schema version 1 (behavior and
// scenario as text) read the same after migration 2 interns the names, and
// the migrated event can still be reversed.
func TestMigrateNames(t *testing.T) {
	old := storetest.Before(t, intake.Migrations, 2)
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db := storetest.Open(t, d, append(comps[:len(comps)-1:len(comps)-1], old)...)
			e := newEnv(t, db, intake.Config{})
			acct := e.open("alice", "eleme")
			e.svc.Close()
			var sub int64
			occurred := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
			day := occurred.In(e.eng.Location())
			dayKey := day.Year()*10000 + int(day.Month())*100 + day.Day()
			// A credit as version 1 stored it, with its ledger entry.
			ev := cutlery("v1-evt", "alice", "V1")
			ev.OccurredAt = occurred
			err := db.InTx(ctx, func(tx *store.Tx) error {
				var err error
				if _, sub, err = account.ResolveTx(ctx, tx, "alice", "eleme"); err != nil {
					return err
				}
				if _, err := ledger.CreditTx(ctx, tx, ledger.Credit{Parent: acct, Sub: sub, MG: 11130, Ref: intake.Ref("eleme", "v1-evt"), CalcID: "0-1"}); err != nil {
					return err
				}
				stmts := []struct {
					q    string
					args []any
				}{
					{`INSERT INTO intake_events (partner, event_id, body_hash, status, account_id, sub_id, behavior, scenario, occurred_at, mg, points, calc_id, act_key, created_at)
						VALUES ('eleme', 'v1-evt', $1, 'credited', $2, $3, 'eleme.no_cutlery', 'eat', $4, 11130, 11, '0-1', 'V1', $5)`,
						[]any{ev.Hash(), acct, sub, store.Micros(occurred), store.Micros(tx.Now)}},
					{`INSERT INTO intake_usage (account_id, behavior, day, partner, scenario, mg, events) VALUES ($1, 'eleme.no_cutlery', $2, 'eleme', 'eat', 11130, 1)`, []any{acct, dayKey}},
					{`INSERT INTO intake_acts (account_id, act_key, behavior) VALUES ($1, 'V1', 'eleme.no_cutlery')`, []any{acct}},
					{`INSERT INTO intake_events (partner, event_id, body_hash, status, code, message, behavior, occurred_at, created_at)
						VALUES ('eleme', 'v1-old', 'h', 'rejected', 'too_old', 'old', 'someone.unknown', 0, 0)`, nil},
				}
				for _, s := range stmts {
					if _, err := tx.ExecContext(ctx, s.q, s.args...); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx, intake.Migrations); err != nil {
				t.Fatalf("migrate to version 2: %v", err)
			}
			// Migration 4 adds the year's usage row.
			if n := count(t, db, `SELECT COUNT(*) FROM intake_usage WHERE account_id = $1 AND day = $2 AND mg = 11130 AND events = 1`, acct, -day.Year()); n != 1 {
				t.Fatalf("%d year rows after migration; want 1", n)
			}
			e.svc = intake.NewService(db, fixedEngine{e.eng}, intake.Config{})
			t.Cleanup(e.svc.Close)
			es, _, err := e.svc.Entries(ctx, acct, "", 10)
			if err != nil || len(es) != 1 || es[0].Behavior != "eleme.no_cutlery" || es[0].Scenario != "eat" || es[0].MG != 11130 {
				t.Fatalf("entries after migration: %+v %v", es, err)
			}
			fp, err := e.svc.Footprint(ctx, acct, day.AddDate(0, 0, -1), day.AddDate(0, 0, 1), intake.ByScenario)
			if err != nil || fp.TotalMG != 11130 || len(fp.Buckets) != 1 || fp.Buckets[0].Key != "eat" {
				t.Fatalf("footprint after migration: %+v %v", fp, err)
			}
			// The migrated event is a duplicate, its act still excludes, and
			// the rejection stays remembered.
			again := cutlery("v1-evt", "alice", "V1")
			again.OccurredAt = occurred
			sameAct := cutlery("v2-evt", "alice", "V1")
			out, err := e.svc.Submit(ctx, "eleme", []intake.Event{again, sameAct})
			if err != nil || out[0].Status != intake.StatusDuplicate || out[1].Code != "excluded_by" {
				t.Fatalf("after migration: %+v %v", out, err)
			}
			if r, err := e.svc.Reverse(ctx, "eleme", "v1-evt", "test"); err != nil || r.MG != 11130 {
				t.Fatalf("reverse migrated event: %+v %v", r, err)
			}
			fp, _ = e.svc.Footprint(ctx, acct, day.AddDate(0, 0, -1), day.AddDate(0, 0, 1), intake.ByScenario)
			if fp.TotalMG != 0 {
				t.Fatalf("footprint after reversal: %+v", fp)
			}
		})
	}
}

// TestMigrateDigestKeys: events credited while PostgreSQL's idempotency
// and act indexes were keyed by text (before migration 9), in the form
// each write path gave them then, are still found through the digest
// keys after migrations 9 and 10, by the same path: a repeat is a
// duplicate, a changed body a conflict, a reused act excluded, a reversal
// finds its event and frees the act. The indexes still refuse a second
// row of one key.
func TestMigrateDigestKeys(t *testing.T) {
	old := storetest.Before(t, intake.Migrations, 9)
	for _, slow := range []bool{false, true} {
		t.Run(map[bool]string{false: "batch", true: "savepoints"}[slow], func(t *testing.T) {
			ctx := context.Background()
			db := storetest.Open(t, store.Postgres, append(comps[:len(comps)-1:len(comps)-1], old)...)
			e := newEnv(t, db, intake.Config{})
			e.open("alice", "eleme")
			if slow {
				intake.SlowOnly(e.svc)
			} else {
				// Today's group commit leaves status NULL, which version 8
				// refuses: let it, then give the rows the status that
				// release wrote (its rows are otherwise the same) and put
				// the constraint back.
				storetest.Exec(t, db, `ALTER TABLE intake_events ALTER COLUMN status DROP NOT NULL`)
			}
			f1 := cutlery("f1", "alice", "A1")
			for i, o := range e.submit("eleme", f1, cutlery("f2", "alice", "A2")) {
				if o.Status != intake.StatusCredited {
					t.Fatalf("before migration, event %d: %+v", i, o)
				}
			}
			if !slow {
				storetest.Exec(t, db, `UPDATE intake_events SET status = 'credited' WHERE status IS NULL`,
					`ALTER TABLE intake_events ALTER COLUMN status SET NOT NULL`)
			}
			wantNull := map[bool]int64{false: 2, true: 0}[slow] // amounts left to the ledger
			if n := count(t, db, `SELECT COUNT(*) FROM intake_events WHERE mg IS NULL AND status = 'credited'`); n != wantNull {
				t.Fatalf("%d credits of the group commit's form before migration; want %d", n, wantNull)
			}
			e.svc.Close()
			if err := db.Migrate(ctx, intake.Migrations); err != nil {
				t.Fatalf("migrate from version 8: %v", err)
			}
			for _, idx := range []string{"intake_events_key", "intake_events_act"} {
				if n := count(t, db, `SELECT COUNT(*) FROM pg_indexes WHERE indexname = $1 AND indexdef LIKE '%md5%'`, idx); n != 1 {
					t.Fatalf("%s is not keyed by a digest", idx)
				}
			}
			e.svc = intake.NewService(db, fixedEngine{e.eng}, intake.Config{})
			t.Cleanup(e.svc.Close)
			if slow {
				intake.SlowOnly(e.svc)
			}
			changed := f1
			changed.Params = map[string]any{"order_id": "B1"}
			out := e.submit("eleme", f1, changed, cutlery("f3", "alice", "A1"), cutlery("f4", "alice", "A4"))
			want := []string{intake.StatusDuplicate, intake.StatusConflict, intake.StatusRejected, intake.StatusCredited}
			for i, o := range out {
				if o.Status != want[i] || (i == 0 && o.Original != intake.StatusCredited) || (i == 2 && o.Code != "excluded_by") {
					t.Fatalf("after migration, event %d: %+v; want %s", i, o, want[i])
				}
			}
			for _, id := range []string{"f2", "f4"} {
				if r, err := e.svc.Reverse(ctx, "eleme", id, "refund"); err != nil || r.MG != 11130 {
					t.Fatalf("reverse %s: %+v %v", id, r, err)
				}
			}
			if o := e.submit("eleme", cutlery("f5", "alice", "A2"))[0]; o.Status != intake.StatusCredited {
				t.Fatalf("the reversed event's act is not free: %+v", o)
			}
			_, err := db.Write().ExecContext(ctx, `INSERT INTO intake_events (id, partner, event_id, body_hash, status, behavior_id, occurred_at, created_at)
				VALUES (-999, 'eleme', 'f1', 'h', 'rejected', 1, 0, 0)`)
			if !store.IsUniqueViolation(err) {
				t.Fatalf("a second row for (eleme, f1): %v; want a unique violation", err)
			}
		})
	}
}
