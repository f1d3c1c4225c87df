package intake

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/opencarbon/opencarbon/store"
)

// ActivityCount is what one behavior reported by one partner has credited
// a person over every year, net of reversals.
type ActivityCount struct {
	Behavior string `json:"behavior"`
	Scenario string `json:"scenario"`
	Partner  string `json:"partner"`
	Credits  int64  `json:"credits"` // credited events not reversed
	MG       int64  `json:"mg"`
}

// ActivitySummary is what a person's credits add up to, net of
// reversals.
type ActivitySummary struct {
	// MG is the reduction credited. The intake is the only writer of mg
	// postings (credits and their reversals), so it equals the ledger's
	// mg balance of the parent account.
	MG int64 `json:"mg"`
	// Credits is the number of credited events not reversed.
	Credits int64 `json:"credits"`
	// Counts has one entry per (behavior, scenario, partner) with credits
	// left, in that order.
	Counts []ActivityCount `json:"counts"`
	// Days are the local days (YYYYMMDD, in the methodology engine's time
	// zone, Asia/Shanghai unless the engine says otherwise) with at least
	// one credit not reversed, newest first.
	Days []int `json:"days"`
}

// Activity returns, for each of accounts (parent account ids), what its
// credits add up to: totals per behavior, scenario and partner, and the
// days with credits. It reads the cap usage rows the writer keeps with
// every credit and reversal (intake_usage: one row per account, local day,
// behavior and partner, and one per year with day = -year), through the
// read pool, never the writer, in one read-only transaction (one
// snapshot): two ranges of the usage primary key per account (its year
// rows, then its day rows summed per day, so the cost grows with the days
// it has credits on, not with its credits) and one lookup of the names.
// Every account asked for is in the result, with a zero summary if it has
// no credits.
func Activity(ctx context.Context, db *store.DB, accounts []int64) (map[int64]ActivitySummary, error) {
	type key struct {
		behavior, scenario int64
		partner            string
	}
	type acc struct {
		mg, credits int64
		counts      map[key]*ActivityCount
		days        []int // with credits left
	}
	by := make(map[int64]*acc, len(accounts))
	for _, a := range accounts {
		by[a] = &acc{counts: map[key]*ActivityCount{}, days: []int{}}
	}
	if len(by) == 0 {
		return map[int64]ActivitySummary{}, nil
	}
	accs := make([]int64, 0, len(by))
	for a := range by {
		accs = append(accs, a)
	}
	slices.Sort(accs)
	// Both reads in one snapshot (a read-only transaction on the read
	// pool), so the days and the totals agree.
	iso := sql.LevelDefault
	if db.Dialect == store.Postgres {
		iso = sql.LevelRepeatableRead
	}
	rtx, err := db.Read().BeginTx(ctx, &sql.TxOptions{Isolation: iso, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("activity: %w", err)
	}
	defer rtx.Rollback()
	names := map[int64]string{}
	err = qActivityYears.QueryOn(ctx, rtx, db.Dialect, accs, func(scan func(...any) error) error {
		var a, behavior, scenario, events, mg int64
		var partner string
		if err := scan(&a, &behavior, &scenario, &partner, &events, &mg); err != nil {
			return err
		}
		// A year row: the year's totals of one behavior and partner.
		x := by[a]
		x.mg += mg
		x.credits += events
		k := key{behavior, scenario, partner}
		c := x.counts[k]
		if c == nil {
			c = &ActivityCount{Partner: partner}
			x.counts[k] = c
			names[behavior], names[scenario] = "", ""
		}
		c.Credits += events
		c.MG += mg
		return nil
	})
	if err == nil {
		err = qActivityDays.QueryOn(ctx, rtx, db.Dialect, accs, func(scan func(...any) error) error {
			var a int64
			var day int
			if err := scan(&a, &day); err != nil {
				return err
			}
			by[a].days = append(by[a].days, day)
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("activity: %w", err)
	}
	if len(names) > 0 {
		ids := make([]int64, 0, len(names))
		for id := range names {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		if err := qNames.QueryOn(ctx, rtx, db.Dialect, ids, func(scan func(...any) error) error {
			var id int64
			var name string
			if err := scan(&id, &name); err != nil {
				return err
			}
			names[id] = name
			return nil
		}); err != nil {
			return nil, fmt.Errorf("activity names: %w", err)
		}
	}
	out := make(map[int64]ActivitySummary, len(by))
	for a, x := range by {
		s := ActivitySummary{MG: x.mg, Credits: x.credits, Counts: []ActivityCount{}, Days: x.days}
		for k, c := range x.counts {
			if c.Credits > 0 {
				c.Behavior, c.Scenario = names[k.behavior], names[k.scenario]
				s.Counts = append(s.Counts, *c)
			}
		}
		slices.SortFunc(s.Counts, func(x, y ActivityCount) int {
			return cmp.Or(cmp.Compare(x.Behavior, y.Behavior), cmp.Compare(x.Scenario, y.Scenario), cmp.Compare(x.Partner, y.Partner))
		})
		slices.SortFunc(s.Days, func(x, y int) int { return cmp.Compare(y, x) })
		out[a] = s
	}
	return out, nil
}

// The reads of Activity; day is the second column of the primary key, so
// each is one range of it per account (year rows before day 0, day rows
// after).
var (
	qActivityYears = store.BulkRead{
		SQLite: `SELECT account_id, behavior_id, scenario_id, partner, events, mg FROM intake_usage
			WHERE account_id IN (SELECT j.value FROM json_each(?1) AS j) AND day < 0`,
		Postgres: `SELECT account_id, behavior_id, scenario_id, partner, events, mg FROM intake_usage
			WHERE account_id = ANY($1::bigint[]) AND day < 0`,
	}
	qActivityDays = store.BulkRead{
		SQLite: `SELECT account_id, day FROM intake_usage
			WHERE account_id IN (SELECT j.value FROM json_each(?1) AS j) AND day > 0 GROUP BY account_id, day HAVING SUM(events) > 0`,
		Postgres: `SELECT account_id, day FROM intake_usage
			WHERE account_id = ANY($1::bigint[]) AND day > 0 GROUP BY account_id, day HAVING SUM(events) > 0`,
	}
	qNames = store.BulkRead{
		SQLite:   `SELECT id, name FROM intake_names WHERE id IN (SELECT j.value FROM json_each(?1) AS j)`,
		Postgres: `SELECT id, name FROM intake_names WHERE id = ANY($1::bigint[])`,
	}
)
