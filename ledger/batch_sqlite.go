package ledger

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/opencarbon/opencarbon/store"
)

// sqliteBatch writes with multi-row VALUES statements of up to chunkRows
// rows. SQLite has one writer, so the rows read at the start cannot change
// before the batch writes them, and a new ledger_tx row's id is one more
// than the largest id so far (SQLite's documented rowid choice), in VALUES
// order.
type sqliteBatch struct{}

// valuesSQL returns "prefix VALUES (?, ...), (...)... suffix" for rows rows.
// Anonymous ? parameters: with numbered $N ones SQLite (and the driver's
// bind) look each number up in a list, quadratic in a 2000-parameter
// statement, which made the batch ten times slower than one by one.
func valuesSQL(prefix string, cols, rows int, suffix string) string {
	return store.ValuesSQL(store.SQLite, prefix+" VALUES", rows, cols, suffix)
}

// chunks calls fn for consecutive [lo, hi) ranges of n rows to write, of
// the fixed sizes of store.WriteChunk (so each statement text stays
// prepared whatever the batch size).
func chunks(n int, fn func(lo, hi int) error) error {
	for lo := 0; lo < n; {
		hi := lo + store.WriteChunk(n-lo)
		if err := fn(lo, hi); err != nil {
			return err
		}
		lo = hi
	}
	return nil
}

// readChunks calls fn for consecutive [lo, hi) ranges of n keys to look
// up, with the fixed statement size of store.ReadChunk: fn builds its
// statement for size keys and repeats key hi-1 to fill it.
func readChunks(n int, fn func(lo, hi, size int) error) error {
	for lo := 0; lo < n; {
		take, size := store.ReadChunk(n - lo)
		if err := fn(lo, lo+take, size); err != nil {
			return err
		}
		lo += take
	}
	return nil
}

func (sqliteBatch) knownRefs(ctx context.Context, tx *store.Tx, refs []string) (map[string]bool, error) {
	known := map[string]bool{}
	err := readChunks(len(refs), func(lo, hi, size int) error {
		q := `SELECT ref FROM ledger_tx WHERE ref IN (` + store.Params(store.SQLite, size) + `)`
		args := make([]any, size)
		for j := range args {
			args[j] = refs[min(lo+j, hi-1)]
		}
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				return err
			}
			known[r] = true
		}
		return rows.Err()
	})
	return known, err
}

func (sqliteBatch) balances(ctx context.Context, tx *store.Tx, keys []acctKey) (map[acctKey]*bal, error) {
	state := map[acctKey]*bal{}
	err := readChunks(len(keys), func(lo, hi, size int) error {
		// The keys that fill the list repeat the last one; scanBalances
		// keeps one row per key.
		q := valuesSQL(`WITH k (parent, sub) AS (`, 2, size, `) SELECT b.parent, b.sub, b.mg, b.points, b.debt
			FROM k JOIN ledger_balances b ON b.parent = k.parent AND b.sub = k.sub`)
		args := make([]any, 0, 2*size)
		for j := range size {
			k := keys[min(lo+j, hi-1)]
			args = append(args, k.parent, k.sub)
		}
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		part, err := scanBalances(rows)
		for k, b := range part {
			state[k] = b
		}
		return err
	})
	return state, err
}

func (sqliteBatch) insertHeads(ctx context.Context, tx *store.Tx, heads []batchHead) ([]int64, error) {
	var last sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(id) FROM ledger_tx`).Scan(&last); err != nil {
		return nil, err
	}
	now := store.Micros(tx.Now)
	ids := make([]int64, len(heads))
	err := chunks(len(heads), func(lo, hi int) error {
		q := valuesSQL(`INSERT INTO ledger_tx (ref, kind, parent, sub, calc_id, created_at, debt, mg, points)`, 9, hi-lo, ``)
		args := make([]any, 0, 9*(hi-lo))
		for _, h := range heads[lo:hi] {
			args = append(args, refArg(h.ref), KindCredit, h.parent, h.sub, h.calcID, now, h.debt, h.mg, h.points)
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		lastID, err := res.LastInsertId()
		if err != nil {
			return err
		}
		if want := last.Int64 + int64(hi); lastID != want {
			return fmt.Errorf("ledger batch: ids %d..%d expected, last is %d", last.Int64+int64(lo)+1, want, lastID)
		}
		for j := lo; j < hi; j++ {
			ids[j] = last.Int64 + int64(j) + 1
		}
		return nil
	})
	return ids, err
}

func (sqliteBatch) writeBalances(ctx context.Context, tx *store.Tx, state map[acctKey]*bal) error {
	keys := make([]acctKey, 0, len(state))
	for k := range state {
		keys = append(keys, k)
	}
	return chunks(len(keys), func(lo, hi int) error {
		q := valuesSQL(`INSERT INTO ledger_balances (parent, sub, mg, points, debt)`, 5, hi-lo,
			`ON CONFLICT (parent, sub) DO UPDATE SET mg = excluded.mg, points = excluded.points, debt = excluded.debt`)
		args := make([]any, 0, 5*(hi-lo))
		for _, k := range keys[lo:hi] {
			b := state[k]
			args = append(args, k.parent, k.sub, b.mg, b.points, b.debt)
		}
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
}

func (sqliteBatch) addLots(ctx context.Context, tx *store.Tx, lots []batchLot, now int64) error {
	return chunks(len(lots), func(lo, hi int) error {
		q := valuesSQL(`INSERT INTO ledger_lots (parent, sub, credited_at, expires_at, remaining)`, 5, hi-lo,
			`ON CONFLICT (sub, expires_at) DO UPDATE SET remaining = ledger_lots.remaining + excluded.remaining`)
		args := make([]any, 0, 5*(hi-lo))
		for _, l := range lots[lo:hi] {
			args = append(args, l.parent, l.sub, now, l.exp, l.points)
		}
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
}
