package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/audit"
	"github.com/opencarbon/opencarbon/methodologies"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

func engine(t testing.TB) *methodology.Engine {
	t.Helper()
	ms, f, err := methodology.LoadFS(methodologies.FS)
	if err != nil {
		t.Fatal(err)
	}
	e, err := methodology.NewEngine(ms, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// appendN writes n records to shard 0 in one transaction.
func appendN(t *testing.T, db *store.DB, eng *methodology.Engine, n int) []string {
	t.Helper()
	var ids []string
	at := time.Date(2026, 11, 20, 12, 0, 0, 123000, time.UTC)
	err := db.InTx(context.Background(), func(tx *store.Tx) error {
		head, err := audit.HeadTx(context.Background(), tx, 0)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			r, err := eng.Evaluate(methodology.Event{ID: fmt.Sprintf("e%d", i), Partner: "tmall", Person: "p", Behavior: "travel.metro_trip", OccurredAt: at,
				Params: map[string]any{"trip_id": fmt.Sprint(i), "city": "BJ", "distance": float64(i + 1)}, Evidence: map[string]any{"ride_record": "R"}},
				methodology.Usage{DayMG: int64(i) * 1000})
			if err != nil || r.Refusal != "" {
				return fmt.Errorf("evaluate: %v %s", err, r.Detail)
			}
			// One record a transaction's worth: a block each.
			id, next, row, err := audit.Next(head, 7, r.Calc)
			if err != nil {
				return err
			}
			if err := audit.InsertTx(context.Background(), tx, []audit.Row{row}); err != nil {
				return err
			}
			head, ids = next, append(ids, id)
		}
		return audit.SetHeadTx(context.Background(), tx, head)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestVerify(t *testing.T) {
	storetest.Each(t, []store.Component{audit.Migrations}, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		eng := engine(t)
		ids := appendN(t, db, eng, 5)
		kinds := func() map[string]string {
			t.Helper()
			ps, n, err := audit.Verify(ctx, db, eng)
			if err != nil || n != 5 {
				t.Fatalf("verify read %d: %v", n, err)
			}
			out := map[string]string{}
			for _, p := range ps {
				out[p.CalcID] = p.Kind
			}
			return out
		}
		t.Run("OK", func(t *testing.T) {
			if ps := kinds(); len(ps) != 0 {
				t.Fatalf("clean log: %v", ps)
			}
			rec, err := audit.Get(ctx, db, eng, ids[2])
			if err != nil || rec.Calc.EventID != "e2" || rec.AccountID != 7 || len(rec.Calc.Factors) == 0 {
				t.Fatalf("get = %+v %v", rec, err)
			}
			if _, err := audit.Get(ctx, db, eng, "0-99"); oc.ErrorCode(err) != oc.ENotFound {
				t.Fatalf("missing: %v", err)
			}
			if _, err := audit.Get(ctx, db, eng, "x"); oc.ErrorCode(err) != oc.ENotFound {
				t.Fatalf("malformed: %v", err)
			}
		})
		t.Run("ErrTamperedResult", func(t *testing.T) {
			raw := block(t, db, 3)
			accts, cs, err := audit.BlockCalcs(raw, eng)
			if err != nil {
				t.Fatal(err)
			}
			cs[0].ResultMG += 1000
			bad, err := audit.NewBlock(0, 3, accts, cs)
			if err != nil {
				t.Fatal(err)
			}
			setBlock(t, db, 3, bad)
			got := kinds()
			// The changed record no longer recomputes, and the next one's
			// prev_hash no longer matches it.
			if got[ids[2]] != "mismatch" || got[ids[3]] != "chain_broken" {
				t.Fatalf("problems = %v", got)
			}
			setBlock(t, db, 3, raw)
			if ps := kinds(); len(ps) != 0 {
				t.Fatalf("restored log: %v", ps)
			}
		})
		t.Run("MixedFormats", func(t *testing.T) {
			// Records stored before the blocks, as calc_log rows in format
			// 1 (before format 2 existed) or 2, verify in the same chain as
			// the blocks around them: they read back to the same bytes.
			raws := map[int][]byte{}
			for seq, compact := range map[int]func(*methodology.Calc) ([]byte, error){1: audit.CompactV1, 4: audit.Compact} {
				raws[seq] = block(t, db, seq)
				_, cs, err := audit.BlockCalcs(raws[seq], eng)
				if err != nil {
					t.Fatal(err)
				}
				rec, err := compact(cs[0])
				if err != nil {
					t.Fatal(err)
				}
				exec(t, db, `DELETE FROM calc_blocks WHERE shard = 0 AND seq = $1`, seq)
				exec(t, db, `INSERT INTO calc_log (shard, seq, account_id, record) VALUES (0, $1, 7, $2)`, seq, rec)
			}
			if ps := kinds(); len(ps) != 0 {
				t.Fatalf("mixed formats: %v", ps)
			}
			for i, id := range ids {
				rec, err := audit.Get(ctx, db, eng, id)
				if err != nil || rec.Calc.EventID != fmt.Sprintf("e%d", i) || rec.AccountID != 7 || len(rec.Calc.Factors) == 0 {
					t.Fatalf("get %s = %+v %v", id, rec, err)
				}
			}
			for seq, raw := range raws {
				exec(t, db, `DELETE FROM calc_log WHERE shard = 0 AND seq = $1`, seq)
				exec(t, db, `INSERT INTO calc_blocks (shard, seq, n, block) VALUES (0, $1, 1, $2)`, seq, raw)
			}
			if ps := kinds(); len(ps) != 0 {
				t.Fatalf("restored log: %v", ps)
			}
		})
		t.Run("ErrChangedBytes", func(t *testing.T) {
			raw := block(t, db, 2)
			for _, i := range []int{1, 5, len(raw) / 2, len(raw) - 1} {
				bad := append([]byte(nil), raw...)
				bad[i] ^= 0x10
				setBlock(t, db, 2, bad)
				if got := kinds(); len(got) == 0 {
					t.Fatalf("byte %d changed: no problem found", i)
				}
			}
			setBlock(t, db, 2, raw)
			if ps := kinds(); len(ps) != 0 {
				t.Fatalf("restored log: %v", ps)
			}
		})
		t.Run("ErrRemovedRecord", func(t *testing.T) {
			raw := block(t, db, 5)
			exec(t, db, `DELETE FROM calc_blocks WHERE shard = 0 AND seq = 5`)
			if got := kindsN(t, db, eng); got[ids[3]] != "head_mismatch" {
				t.Fatalf("problems = %v", got)
			}
			exec(t, db, `INSERT INTO calc_blocks (shard, seq, n, block) VALUES (0, 5, 1, $1)`, raw)
		})
	})
}

// block reads the block that starts at record seq of shard 0.
func block(t *testing.T, db *store.DB, seq int) []byte {
	t.Helper()
	var raw []byte
	if err := db.Read().QueryRow(`SELECT block FROM calc_blocks WHERE shard = 0 AND seq = $1`, seq).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

func kindsN(t *testing.T, db *store.DB, eng *methodology.Engine) map[string]string {
	ps, _, err := audit.Verify(context.Background(), db, eng)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range ps {
		out[p.CalcID] = p.Kind
	}
	return out
}

func setBlock(t *testing.T, db *store.DB, seq int, b []byte) {
	exec(t, db, `UPDATE calc_blocks SET block = $1 WHERE shard = 0 AND seq = $2`, b, seq)
}

func exec(t *testing.T, db *store.DB, q string, args ...any) {
	t.Helper()
	if err := db.InTx(context.Background(), func(tx *store.Tx) error {
		_, err := tx.ExecContext(context.Background(), q, args...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestRecordSize keeps stored calc records compact.
func TestRecordSize(t *testing.T) {
	eng := engine(t)
	r, _ := eng.Evaluate(methodology.Event{ID: "evt-000123", Partner: "eleme", Person: "p", Behavior: "eleme.no_cutlery", OccurredAt: time.Now(),
		Params: map[string]any{"order_id": "E123456"}, Evidence: map[string]any{"cutlery_choice": "none"}}, methodology.Usage{})
	r.Calc.PrevHash = "0f3e6a1c77d2b9e84f5a03c6d1e2b7a9c4f8e0d3b6a5c2e1f4d7a8b9c0e3f6a2"
	b, err := audit.Compact(r.Calc)
	if err != nil {
		t.Fatal(err)
	}
	cc := *r.Calc
	cc.Factors = nil
	t.Logf("canonical %d bytes, stored %d bytes: %s", len(r.Calc.Canonical()), len(b), cc.Canonical())
	if len(b) > 300 {
		t.Fatalf("stored record is %d bytes", len(b))
	}
	back, err := audit.Expand(b, eng)
	if err != nil || back.Hash() != r.Calc.Hash() {
		t.Fatalf("round trip changed the record: %v", err)
	}
}

func BenchmarkCompact(b *testing.B) {
	ms, f, _ := methodology.LoadFS(methodologies.FS)
	eng, _ := methodology.NewEngine(ms, f, nil)
	r, _ := eng.Evaluate(methodology.Event{ID: "evt-000123", Partner: "eleme", Person: "p", Behavior: "eleme.no_cutlery", OccurredAt: time.Now(),
		Params: map[string]any{"order_id": "E123456"}, Evidence: map[string]any{"cutlery_choice": "none"}}, methodology.Usage{})
	r.Calc.PrevHash = "0f3e6a1c77d2b9e84f5a03c6d1e2b7a9c4f8e0d3b6a5c2e1f4d7a8b9c0e3f6a2"
	for b.Loop() {
		if _, err := audit.Compact(r.Calc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReserveSeal: records reserved one after the other and sealed
// afterwards (the intake's fast path) get the ids, prev hashes, bytes and
// final head that Next gives them one by one, and verify clean once
// stored; an empty batch seals to the head it started from.
func TestReserveSeal(t *testing.T) {
	storetest.Each(t, []store.Component{audit.Migrations}, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		eng := engine(t)
		appendN(t, db, eng, 2) // a chain to continue
		at := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
		calc := func(i int) *methodology.Calc {
			r, err := eng.Evaluate(methodology.Event{ID: fmt.Sprintf("s%d", i), Partner: "tmall", Person: "p", Behavior: "travel.metro_trip", OccurredAt: at,
				Params: map[string]any{"trip_id": fmt.Sprint(i), "city": "GZ", "distance": float64(i + 2)}, Evidence: map[string]any{"ride_record": "R"}},
				methodology.Usage{})
			if err != nil || r.Refusal != "" {
				t.Fatalf("evaluate: %v %s", err, r.Detail)
			}
			return r.Calc
		}
		err := db.InTx(ctx, func(tx *store.Tx) error {
			start, err := audit.HeadTx(ctx, tx, 0)
			if err != nil {
				return err
			}
			if h, err := audit.Seal(start.Hash, nil); err != nil || h != start.Hash {
				t.Fatalf("Seal of nothing = %q, %v; want the head %q", h, err, start.Hash)
			}
			// The same records, by Next and by Reserve then Seal.
			byNext, byReserve := start, start
			var nextRows, rows []audit.Row
			var nextIDs, ids []string
			for i := range 4 {
				id, h, row, err := audit.Next(byNext, 7, calc(i))
				if err != nil {
					return err
				}
				byNext, nextRows, nextIDs = h, append(nextRows, row), append(nextIDs, id)
				id, h, row = audit.Reserve(byReserve, 7, calc(i))
				byReserve, rows, ids = h, append(rows, row), append(ids, id)
			}
			last, err := audit.Seal(start.Hash, rows)
			if err != nil {
				return err
			}
			if last != byNext.Hash || byReserve.Seq != byNext.Seq || !slices.Equal(ids, nextIDs) {
				t.Fatalf("sealed head %q seq %d ids %v; Next gave %q, %d, %v", last, byReserve.Seq, ids, byNext.Hash, byNext.Seq, nextIDs)
			}
			want, err := audit.EncodeBlock(nextRows)
			if err != nil {
				return err
			}
			if got := audit.SealedBlocks(rows); len(got) != 1 {
				t.Fatalf("Seal encoded %d blocks; want 1", len(got))
			} else if !bytes.Equal(got[0], want) {
				t.Fatal("the block differs between Seal and Next")
			}
			if err := audit.InsertTx(ctx, tx, nextRows); err != nil { // encodes what Next left
				return err
			}
			byReserve.Hash = last
			return audit.SetHeadTx(ctx, tx, byReserve)
		})
		if err != nil {
			t.Fatal(err)
		}
		if ps, n, err := audit.Verify(ctx, db, eng); err != nil || n != 6 || len(ps) != 0 {
			t.Fatalf("verify: %d records, problems %v, %v", n, ps, err)
		}
		// Records inside a block read back with their prev_hash restored.
		var prev string
		for i, id := range []string{"0-2", "0-3", "0-4", "0-5", "0-6"} {
			rec, err := audit.Get(ctx, db, eng, id)
			if err != nil || rec.ID != id || (i > 0 && rec.Calc.EventID != fmt.Sprintf("s%d", i-1)) || (i > 0 && rec.Calc.PrevHash != prev) || rec.Hash != rec.Calc.Hash() {
				t.Fatalf("get %s = %+v %v; want prev_hash %s", id, rec, err, prev)
			}
			prev = rec.Hash
		}
		if _, err := audit.Get(ctx, db, eng, "0-7"); oc.ErrorCode(err) != oc.ENotFound {
			t.Fatalf("past the last block: %v", err)
		}
		// A record changed inside a block fails to recompute, and the
		// hashes after it no longer reach the chain head.
		raw := block(t, db, 3)
		accts, cs, err := audit.BlockCalcs(raw, eng)
		if err != nil || len(cs) != 4 {
			t.Fatalf("block of %d records: %v", len(cs), err)
		}
		cs[1].ResultMG++
		bad, err := audit.NewBlock(0, 3, accts, cs)
		if err != nil {
			t.Fatal(err)
		}
		setBlock(t, db, 3, bad)
		if got := kindsN(t, db, eng); len(got) != 2 || got["0-4"] != "mismatch" || got["0-6"] != "head_mismatch" {
			t.Fatalf("problems = %v", got)
		}
		// Changed without sealing the block again: it no longer hashes to
		// its seal, whether the change recomputes (the event id is an
		// input) or not.
		accts, cs, _ = audit.BlockCalcs(raw, eng)
		cs[1].EventID = "forged"
		forged, err := audit.NewBlock(0, 3, accts, cs)
		if err != nil {
			t.Fatal(err)
		}
		setBlock(t, db, 3, audit.KeepSeals(forged, raw))
		if got := kindsN(t, db, eng); len(got) != 1 || got["0-3"] != "chain_broken" {
			t.Fatalf("problems = %v", got)
		}
		setBlock(t, db, 3, raw)
		if ps, _, err := audit.Verify(ctx, db, eng); err != nil || len(ps) != 0 {
			t.Fatalf("restored log: %v %v", ps, err)
		}
	})
}

// TestBlockSegments: a block of 200 records (three full segments of 64
// and a part) reads back every record with its prev_hash, across segment
// starts, and a record changed without sealing its segment again is
// found at the start of its segment, and nowhere else, and no record of
// that segment is served.
func TestBlockSegments(t *testing.T) {
	storetest.Each(t, []store.Component{audit.Migrations}, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		eng := engine(t)
		at := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
		err := db.InTx(ctx, func(tx *store.Tx) error {
			head, err := audit.HeadTx(ctx, tx, 0)
			if err != nil {
				return err
			}
			var rows []audit.Row
			for i := range 200 {
				r, err := eng.Evaluate(methodology.Event{ID: fmt.Sprintf("g%d", i), Partner: "tmall", Person: "p", Behavior: "travel.metro_trip", OccurredAt: at,
					Params: map[string]any{"trip_id": fmt.Sprint(i), "city": "BJ", "distance": float64(i%40 + 1)}, Evidence: map[string]any{"ride_record": "R"}},
					methodology.Usage{})
				if err != nil || r.Refusal != "" {
					return fmt.Errorf("evaluate: %v %s", err, r.Detail)
				}
				var row audit.Row
				_, head, row = audit.Reserve(head, int64(100+i), r.Calc)
				rows = append(rows, row)
			}
			if head.Hash, err = audit.Seal(head.Hash, rows); err != nil {
				return err
			}
			if got := audit.SealedBlocks(rows); len(got) != 1 {
				t.Fatalf("%d blocks; want 1", len(got))
			}
			if err := audit.InsertTx(ctx, tx, rows); err != nil {
				return err
			}
			return audit.SetHeadTx(ctx, tx, head)
		})
		if err != nil {
			t.Fatal(err)
		}
		if ps, n, err := audit.Verify(ctx, db, eng); err != nil || n != 200 || len(ps) != 0 {
			t.Fatalf("verify: %d records, %v, %v", n, ps, err)
		}
		prev := ""
		for seq := 1; seq <= 200; seq++ {
			rec, err := audit.Get(ctx, db, eng, fmt.Sprintf("0-%d", seq))
			if err != nil || rec.Calc.EventID != fmt.Sprintf("g%d", seq-1) || rec.AccountID != int64(99+seq) || rec.Calc.PrevHash != prev || rec.Hash != rec.Calc.Hash() {
				t.Fatalf("get 0-%d = %+v, %v; want prev_hash %q", seq, rec, err, prev)
			}
			prev = rec.Hash
		}
		raw := block(t, db, 1)
		accts, cs, err := audit.BlockCalcs(raw, eng)
		if err != nil {
			t.Fatal(err)
		}
		cs[70].EventID = "forged" // in the second segment, records 64 to 127 (0-65 to 0-128)
		forged, err := audit.NewBlock(0, 1, accts, cs)
		if err != nil {
			t.Fatal(err)
		}
		setBlock(t, db, 1, audit.KeepSeals(forged, raw))
		if got := kindsN(t, db, eng); len(got) != 1 || got["0-65"] != "chain_broken" {
			t.Fatalf("problems = %v; want chain_broken at 0-65 only", got)
		}
		// Get serves no record of the changed segment: its prev_hash and
		// hash could be the changed record's. The others read as before.
		if _, err := audit.Get(ctx, db, eng, "0-100"); err == nil || oc.ErrorCode(err) == oc.ENotFound {
			t.Fatalf("get from a changed segment: %v; want an error", err)
		}
		if rec, err := audit.Get(ctx, db, eng, "0-130"); err != nil || rec.Calc.EventID != "g129" {
			t.Fatalf("get after the changed segment = %+v, %v", rec, err)
		}
		// The next segment's first record unreadable as well: the changed
		// segment is still found by its own seal.
		bad, err := audit.WithRecord(audit.KeepSeals(forged, raw), 128, []byte{2})
		if err != nil {
			t.Fatal(err)
		}
		setBlock(t, db, 1, bad)
		if got := kindsN(t, db, eng); len(got) != 2 || got["0-65"] != "chain_broken" || got["0-129"] != "unreadable" {
			t.Fatalf("problems = %v; want chain_broken at 0-65 and unreadable at 0-129", got)
		}
		// The records after an unreadable one in its segment are not served
		// (their prev_hash is lost).
		if _, err := audit.Get(ctx, db, eng, "0-140"); err == nil || oc.ErrorCode(err) == oc.ENotFound {
			t.Fatalf("get after an unreadable record: %v; want an error", err)
		}
		// A record after the unreadable one whose result changed: its
		// prev_hash is lost, so its segment has no hash to hold against the
		// seal, but it no longer recomputes to its stored bytes.
		cs[140].ResultMG++ // 0-141
		forged2, err := audit.NewBlock(0, 1, accts, cs)
		if err != nil {
			t.Fatal(err)
		}
		bad2, err := audit.WithRecord(audit.KeepSeals(forged2, raw), 128, []byte{2})
		if err != nil {
			t.Fatal(err)
		}
		setBlock(t, db, 1, bad2)
		if got := kindsN(t, db, eng); len(got) != 3 || got["0-65"] != "chain_broken" || got["0-129"] != "unreadable" || got["0-141"] != "mismatch" {
			t.Fatalf("problems = %v; want chain_broken at 0-65, unreadable at 0-129, mismatch at 0-141", got)
		}
		setBlock(t, db, 1, raw)
		if ps, _, err := audit.Verify(ctx, db, eng); err != nil || len(ps) != 0 {
			t.Fatalf("restored: %v %v", ps, err)
		}
	})
}

// BenchmarkGetFromBlock reads the last record of a segment from a full
// block of 1024: the most hashing a read does (64 records), after
// inflating the block.
func BenchmarkGetFromBlock(b *testing.B) {
	ctx := context.Background()
	db := storetest.Open(b, store.SQLite, audit.Migrations)
	eng := engine(b)
	at := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		head := audit.Head{}
		var rows []audit.Row
		for i := range 1024 {
			r, err := eng.Evaluate(methodology.Event{ID: fmt.Sprintf("evt-%08d", i), Partner: "eleme", Person: "p", Behavior: "eleme.no_cutlery", OccurredAt: at,
				Params: map[string]any{"order_id": fmt.Sprintf("E%08d", i)}, Evidence: map[string]any{"cutlery_choice": "none"}}, methodology.Usage{})
			if err != nil || r.Refusal != "" {
				return fmt.Errorf("evaluate: %v %s", err, r.Detail)
			}
			var row audit.Row
			_, head, row = audit.Reserve(head, 7, r.Calc)
			rows = append(rows, row)
		}
		var err error
		if head.Hash, err = audit.Seal("", rows); err != nil {
			return err
		}
		if err := audit.InsertTx(ctx, tx, rows); err != nil {
			return err
		}
		return audit.SetHeadTx(ctx, tx, head)
	})
	if err != nil {
		b.Fatal(err)
	}
	var size int
	db.Read().QueryRow(`SELECT length(block) FROM calc_blocks`).Scan(&size)
	for b.Loop() {
		if _, err := audit.Get(ctx, db, eng, "0-1024"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size)/1024, "block_B/record")
}
