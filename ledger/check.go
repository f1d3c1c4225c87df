package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"sort"

	"github.com/opencarbon/opencarbon/store"
)

// Mismatch is one difference Check found.
type Mismatch struct {
	Parent int64  `json:"parent"`
	Sub    int64  `json:"sub"`  // 0: the parent rollup
	What   string `json:"what"` // which invariant: "mg", "points-debt", "lots", "parent mg", "negative", ...
	Want   int64  `json:"want"` // the value the postings (or the sub-accounts) give
	Got    int64  `json:"got"`  // the value stored
}

// String describes m for operators.
func (m Mismatch) String() string {
	return fmt.Sprintf("account %d sub %d: %s: want %d, stored %d", m.Parent, m.Sub, m.What, m.Want, m.Got)
}

// CheckResult is the outcome of a full check.
type CheckResult struct {
	Accounts   int // balance rows checked (sub-accounts and parents)
	Postings   int64
	Mismatches []Mismatch
}

// Check proves the ledger's invariants and returns every difference:
// each sub-account's mg equals the sum of its mg postings and its points −
// debt the sum of its points postings; points and debt are never negative,
// nor both positive in a sub-account; its lots' remaining points equal its points;
// each parent row equals the sum of its sub-accounts; every account with
// postings has a balance row.
func (s *Service) Check(ctx context.Context) ([]Mismatch, error) {
	r, err := s.CheckAll(ctx)
	return r.Mismatches, err
}

type sums struct{ mg, points, lots int64 }

// CheckAll is Check with the counts of what was checked. It reads one
// consistent snapshot, so it can run while the system serves.
func (s *Service) CheckAll(ctx context.Context) (CheckResult, error) {
	var opts *sql.TxOptions
	if s.db.Dialect == store.Postgres {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	rtx, err := s.db.Read().BeginTx(ctx, opts)
	if err != nil {
		return CheckResult{}, fmt.Errorf("check: %w", err)
	}
	defer rtx.Rollback()
	var res CheckResult
	want := map[int64]*sums{}
	at := func(sub int64) *sums {
		if want[sub] == nil {
			want[sub] = &sums{}
		}
		return want[sub]
	}
	// A batch credit's postings are its head's mg and points (no points
	// posting when 0), moved from AccountIssuance to its sub-account: one
	// pass over the heads, the largest table, sums and counts them.
	err = scanAll(ctx, rtx, `SELECT sub, SUM(mg), COALESCE(SUM(points), 0), COUNT(*) + COUNT(CASE WHEN points > 0 THEN 1 END)
		FROM ledger_tx WHERE mg IS NOT NULL GROUP BY sub`,
		func(sc func(...any) error) error {
			var sub, mg, points, n int64
			if err := sc(&sub, &mg, &points, &n); err != nil {
				return err
			}
			at(sub).mg += mg
			at(sub).points += points
			res.Postings += n
			return nil
		})
	if err != nil {
		return res, fmt.Errorf("check postings: %w", err)
	}
	// Every other transaction's postings are rows.
	var rowsN int64
	if err := rtx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_postings`).Scan(&rowsN); err != nil {
		return res, fmt.Errorf("check postings: %w", err)
	}
	res.Postings += rowsN
	err = scanAll(ctx, rtx, `SELECT acct, asset, SUM(amt) FROM (
		SELECT dst AS acct, asset, amount AS amt FROM ledger_postings WHERE dst > 0
		UNION ALL SELECT src, asset, -amount FROM ledger_postings WHERE src > 0) x GROUP BY acct, asset`,
		func(sc func(...any) error) error {
			var acct, sum int64
			var asset string
			if err := sc(&acct, &asset, &sum); err != nil {
				return err
			}
			if asset == AssetMG {
				at(acct).mg += sum
			} else {
				at(acct).points += sum
			}
			return nil
		})
	if err != nil {
		return res, fmt.Errorf("check postings: %w", err)
	}
	// A transaction has its postings in one form: rows, or its head's mg
	// and points. Both would count them twice everywhere, consistently.
	err = scanAll(ctx, rtx, `SELECT DISTINCT t.id, t.parent, t.sub FROM ledger_postings p JOIN ledger_tx t ON t.id = p.tx_id WHERE t.mg IS NOT NULL ORDER BY t.id`,
		func(sc func(...any) error) error {
			var id, parent, sub int64
			if err := sc(&id, &parent, &sub); err != nil {
				return err
			}
			res.Mismatches = append(res.Mismatches, Mismatch{Parent: parent, Sub: sub, What: fmt.Sprintf("transaction %d has posting rows and postings in its head", id)})
			return nil
		})
	if err != nil {
		return res, fmt.Errorf("check posting forms: %w", err)
	}
	err = scanAll(ctx, rtx, `SELECT sub, SUM(remaining) FROM ledger_lots GROUP BY sub`, func(sc func(...any) error) error {
		var sub, sum int64
		if err := sc(&sub, &sum); err != nil {
			return err
		}
		at(sub).lots = sum
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("check lots: %w", err)
	}
	type row struct{ parent, sub, mg, points, debt int64 }
	var rows []row
	err = scanAll(ctx, rtx, `SELECT parent, sub, mg, points, debt FROM ledger_balances ORDER BY parent, sub`, func(sc func(...any) error) error {
		var r row
		if err := sc(&r.parent, &r.sub, &r.mg, &r.points, &r.debt); err != nil {
			return err
		}
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("check balances: %w", err)
	}
	res.Accounts = len(rows)
	add := func(parent, sub int64, what string, want, got int64) {
		if want != got {
			res.Mismatches = append(res.Mismatches, Mismatch{Parent: parent, Sub: sub, What: what, Want: want, Got: got})
		}
	}
	rollup := map[int64]*row{}
	seen := map[int64]bool{}
	for _, r := range rows {
		// A parent may hold points in one sub-account and debt in another;
		// a sub-account never holds both.
		if r.points < 0 || r.debt < 0 || (r.sub != 0 && r.points > 0 && r.debt > 0) {
			res.Mismatches = append(res.Mismatches, Mismatch{Parent: r.parent, Sub: r.sub, What: fmt.Sprintf("points %d and debt %d: neither may be negative, nor both positive", r.points, r.debt), Got: r.points})
		}
		if r.sub == 0 {
			continue
		}
		seen[r.sub] = true
		w := at(r.sub)
		add(r.parent, r.sub, "mg", w.mg, r.mg)
		add(r.parent, r.sub, "points-debt", w.points, r.points-r.debt)
		add(r.parent, r.sub, "lots", w.lots, r.points)
		if rollup[r.parent] == nil {
			rollup[r.parent] = &row{}
		}
		p := rollup[r.parent]
		p.mg, p.points, p.debt = p.mg+r.mg, p.points+r.points, p.debt+r.debt
	}
	for _, r := range rows {
		if r.sub != 0 {
			continue
		}
		p := rollup[r.parent]
		if p == nil {
			p = &row{}
		}
		add(r.parent, 0, "parent mg", p.mg, r.mg)
		add(r.parent, 0, "parent points", p.points, r.points)
		add(r.parent, 0, "parent debt", p.debt, r.debt)
		delete(rollup, r.parent)
	}
	for parent, p := range rollup {
		if *p != (row{}) {
			res.Mismatches = append(res.Mismatches, Mismatch{Parent: parent, What: "parent row missing", Want: p.mg})
		}
	}
	var orphans []int64
	for sub, w := range want {
		if !seen[sub] && *w != (sums{}) {
			orphans = append(orphans, sub)
		}
	}
	sort.Slice(orphans, func(i, j int) bool { return orphans[i] < orphans[j] })
	for _, sub := range orphans {
		res.Mismatches = append(res.Mismatches, Mismatch{Sub: sub, What: "postings without a balance row", Want: want[sub].mg})
	}
	return res, rtx.Commit()
}

// scanAll runs q and calls fn for each row with its Scan.
func scanAll(ctx context.Context, q *sql.Tx, query string, fn func(scan func(...any) error) error) error {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}
