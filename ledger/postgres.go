package ledger

import (
	"context"
	"fmt"

	"github.com/opencarbon/opencarbon/store"
)

// On PostgreSQL every statement is a network round trip, which dominated
// the cost of a credit (six statements). The credit path is therefore two
// statements there, built from data-modifying CTEs: pgInsertTxLocked
// inserts the transaction head and, only if it is new, upserts the parent
// row (taking the parent lock first, as the package's lock order wants);
// pgInflowSQL then does the sub-account upsert, the postings, the parent's
// points and debt, and the lot in one statement. The arithmetic is the same
// as inflow's SQLite path; tests run both.

// pgInsertTxLockedSQL: $1 ref, $2 kind, $3 parent, $4 sub, $5 calc id,
// $6 now, $7 mg added to the parent.
const pgInsertTxLockedSQL = `WITH t AS (
	INSERT INTO ledger_tx (ref, kind, parent, sub, calc_id, created_at)
	VALUES ($1::text, $2::text, $3::bigint, $4::bigint, $5::text, $6::bigint) ON CONFLICT (ref) WHERE ref IS NOT NULL DO NOTHING RETURNING id),
p AS (
	INSERT INTO ledger_balances (parent, sub, mg, points, debt) SELECT $3::bigint, 0, $7::bigint, 0, 0 FROM t
	ON CONFLICT (parent, sub) DO UPDATE SET mg = ledger_balances.mg + excluded.mg)
SELECT id FROM t`

// pgInsertTxLocked is insertTx plus the parent lock and its mg rollup.
func pgInsertTxLocked(ctx context.Context, tx *store.Tx, ref, kind string, parent, sub int64, calcID string, mg int64) (id int64, ok bool, err error) {
	rows, err := tx.QueryContext(ctx, pgInsertTxLockedSQL, ref, kind, parent, sub, calcID, store.Micros(tx.Now), mg)
	if err != nil {
		return 0, false, fmt.Errorf("ledger %s %s: %w", kind, ref, err)
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return 0, false, fmt.Errorf("ledger %s %s: %w", kind, ref, err)
		}
		ok = true
	}
	if err := rows.Err(); err != nil {
		return 0, false, fmt.Errorf("ledger %s %s: %w", kind, ref, err)
	}
	return id, ok, nil
}

// pgNet is the sub-account's net points position after the inflow.
const pgNet = `(ledger_balances.points - ledger_balances.debt + (ledger_balances.mg + excluded.mg) / 1000 - ledger_balances.mg / 1000 + $4::bigint)`

// pgInflowSQL: $1 parent, $2 sub, $3 mg, $4 extra points, $5 tx id,
// $6 source account, $7 now, $8 lot expiry (< 0: no lot), $9 first
// posting number. The parent row must exist and be locked.
const pgInflowSQL = `WITH s AS (
	INSERT INTO ledger_balances (parent, sub, mg, points, debt) VALUES ($1::bigint, $2::bigint, $3::bigint, $3::bigint / 1000 + $4::bigint, 0)
	ON CONFLICT (parent, sub) DO UPDATE SET mg = ledger_balances.mg + excluded.mg,
	points = CASE WHEN ` + pgNet + ` >= 0 THEN ` + pgNet + ` ELSE 0 END,
	debt = CASE WHEN ` + pgNet + ` < 0 THEN -` + pgNet + ` ELSE 0 END
	RETURNING mg, points, debt),
c AS (SELECT points, debt, mg / 1000 - (mg - $3::bigint) / 1000 + $4::bigint AS delta FROM s),
r AS (SELECT delta,
	GREATEST(delta - points + debt, 0) - debt AS repaid,
	points - GREATEST(points - debt - delta, 0) AS lot FROM c),
po AS (INSERT INTO ledger_postings (tx_id, n, src, dst, asset, amount)
	SELECT $5::bigint, $9::int, $6::bigint, $2::bigint, 'mg', $3::bigint WHERE $3::bigint > 0
	UNION ALL
	SELECT $5::bigint, $9::int + (CASE WHEN $3::bigint > 0 THEN 1 ELSE 0 END), $6::bigint, $2::bigint, 'points', delta FROM r WHERE delta > 0),
pa AS (UPDATE ledger_balances SET points = ledger_balances.points + r.lot, debt = ledger_balances.debt - r.repaid
	FROM r WHERE ledger_balances.parent = $1::bigint AND ledger_balances.sub = 0 AND (r.lot <> 0 OR r.repaid <> 0)),
lo AS (INSERT INTO ledger_lots (parent, sub, credited_at, expires_at, remaining)
	SELECT $1::bigint, $2::bigint, $7::bigint, $8::bigint, lot FROM r WHERE lot > 0 AND $8::bigint >= 0
	ON CONFLICT (sub, expires_at) DO UPDATE SET remaining = ledger_lots.remaining + excluded.remaining)
SELECT delta, repaid, lot FROM r`

// pgInflow is inflow on PostgreSQL, in one statement.
func pgInflow(ctx context.Context, tx *store.Tx, txID, parent, sub, mg, extra, src, exp int64, seq *int) (inflowResult, error) {
	var r inflowResult
	err := tx.QueryRowContext(ctx, pgInflowSQL, parent, sub, mg, extra, txID, src, store.Micros(tx.Now), exp, *seq).
		Scan(&r.points, &r.repaid, &r.lot)
	if err != nil {
		return r, fmt.Errorf("ledger credit %d/%d: %w", parent, sub, err)
	}
	if mg > 0 {
		*seq++
	}
	if r.points > 0 {
		*seq++
	}
	return r, nil
}
