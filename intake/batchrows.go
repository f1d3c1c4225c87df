package intake

import (
	"fmt"

	"github.com/opencarbon/opencarbon/audit"
	"github.com/opencarbon/opencarbon/store"
)

// The rows below are buffered per batch and written with multi-row
// INSERTs when the batch ends (writer.finish): calc records and cap usage
// of the events whose savepoints were kept. Acts are kept in memory only,
// for the events later in the batch: the event row carries its act.

type actRow struct {
	acct          int64
	key, behavior string
}

type actPair struct {
	acct int64
	key  string
}

type usageRow struct {
	acct                        int64
	behavior, partner, scenario string
	day                         int
}

// pending is what one event adds to the batch's buffered rows, kept only
// if its savepoint is released.
type pending struct {
	calc  *audit.Row
	act   *actRow
	usage *usageRow
	mg    int64

	// Set by the fast path only (decide with deferred): the event row of
	// a remembered rejection, or of a credit to post with the batch.
	reject *Outcome
	credit *creditRow
}

// creditRow is a credit decided in the fast path, posted with the batch.
type creditRow struct {
	acct, sub int64
	txID      int64 // the ledger transaction, whose id the event row takes
	scenario  string
	act       any
	calcID    string
}

// yearRow is the day key of the usage row that holds the totals of the
// year of day (YYYYMMDD): minus the year. It sorts before the person's
// days, so it shares their pages, and no day range (footprints) includes it.
func yearRow(day int) int { return -(day / 10000) }

func (w *writer) flushUsage() error {
	var rows []usageRow
	for u := range w.usageAdd {
		rows = append(rows, u)
	}
	// Each day's usage also goes to its year's row (the yearly cap reads
	// one row per person, behavior and partner instead of every day).
	for _, u := range rows {
		y := u
		y.day = yearRow(u.day)
		if _, ok := w.usageAdd[y]; !ok {
			rows = append(rows, y)
		}
		w.usageAdd[y] += w.usageAdd[u]
		w.usageN[y] += w.usageN[u]
	}
	if w.tx.Dialect == store.Postgres && len(rows) > 0 {
		n := len(rows)
		accts, days, bs, scens, mgs, evs := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		partners := make([]string, n)
		for i, u := range rows {
			accts[i], days[i], bs[i], partners[i], scens[i], mgs[i], evs[i] = u.acct, int64(u.day), w.id(u.behavior), u.partner, w.id(u.scenario), w.usageAdd[u], w.usageN[u]
		}
		if err := w.tx.ExecLater(w.ctx, `INSERT INTO intake_usage (account_id, day, behavior_id, partner, scenario_id, mg, events)
			SELECT * FROM unnest($1::bigint[], $2::int[], $3::int[], $4::text[], $5::int[], $6::bigint[], $7::bigint[])
			ON CONFLICT (account_id, day, behavior_id, partner) DO UPDATE SET mg = intake_usage.mg + excluded.mg, events = intake_usage.events + excluded.events`,
			accts, days, bs, partners, scens, mgs, evs); err != nil {
			return fmt.Errorf("usage: %w", err)
		}
		return nil
	}
	for len(rows) > 0 {
		chunk := rows[:store.WriteChunk(len(rows))]
		rows = rows[len(chunk):]
		q := store.ValuesSQL(w.tx.Dialect, `INSERT INTO intake_usage (account_id, day, behavior_id, partner, scenario_id, mg, events) VALUES`, len(chunk), 7,
			`ON CONFLICT (account_id, day, behavior_id, partner) DO UPDATE SET mg = intake_usage.mg + excluded.mg, events = intake_usage.events + excluded.events`)
		args := make([]any, 0, 7*len(chunk))
		for _, u := range chunk {
			args = append(args, u.acct, u.day, w.id(u.behavior), u.partner, w.id(u.scenario), w.usageAdd[u], w.usageN[u])
		}
		if err := w.exec(q, args...); err != nil {
			return fmt.Errorf("usage: %w", err)
		}
	}
	return nil
}

// questions returns n anonymous SQLite parameters: "?, ?, ?".
