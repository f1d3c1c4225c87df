package ledger

import (
	"context"
	"fmt"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

// Credit is one credited reduction: MG milligrams to sub-account Sub of
// parent account Parent, with the points of the default scheme.
type Credit struct {
	Parent, Sub int64
	MG          int64     // > 0
	Ref         string    // idempotency key, unique across the ledger (e.g. "evt:<partner>:<event_id>")
	CalcID      string    // the calc record that produced MG
	ExpiresAt   time.Time // expiry of the points' lot; zero means the default period

	// NewRef tells CreditBatchTx that the caller knows Ref was never
	// used, so it is not looked up first: the intake credits an event
	// only when the event's own row is new in the same transaction. The
	// unique index on refs still refuses a repeat (the batch then fails).
	// With NewRef, Ref may be empty: the transaction is then stored
	// without a ref and found by its id (CreditResult.TxID, ReverseIDTx).
	// The intake does so: its event row, which takes the transaction's
	// id, is the credit's idempotency key, and the unique index entry of
	// a ref cost ~5 % of its writer.
	NewRef bool
}

// CreditResult is what a credit did.
type CreditResult struct {
	TxID       int64
	Points     int64 // points earned by the credit (including those that repaid debt)
	DebtRepaid int64 // part of Points that repaid debt instead of becoming spendable
}

// CreditTx posts c in tx: MG and the points it earns move from
// AccountIssuance to the sub-account, the parent rollup follows, the points
// repay any debt first and the rest join a lot. A second call with the same
// Ref returns the first result and changes nothing. Errors: EInvalid (bad
// accounts, MG ≤ 0, empty Ref, expiry not in the future), EConflict (Ref
// names a transaction that is not a credit).
func CreditTx(ctx context.Context, tx *store.Tx, c Credit) (CreditResult, error) {
	if err := validCredit(c, false); err != nil {
		return CreditResult{}, err
	}
	exp, err := lotExpiry(tx, c.ExpiresAt)
	if err != nil {
		return CreditResult{}, err
	}
	id, ok, err := insertHead(ctx, tx, c.Ref, KindCredit, c.Parent, c.Sub, c.CalcID, c.MG)
	if err != nil {
		return CreditResult{}, err
	}
	if !ok {
		return creditResult(ctx, tx, c.Ref)
	}
	r, err := inflow(ctx, tx, id, c.Parent, c.Sub, c.MG, 0, AccountIssuance, exp, new(int))
	if err == nil {
		err = setDebt(ctx, tx, id, r.repaid)
	}
	if err != nil {
		return CreditResult{}, err
	}
	return CreditResult{TxID: id, Points: r.points, DebtRepaid: r.repaid}, nil
}

func errInvalidMG(mg int64) error {
	return oc.Errorf(oc.EInvalid, "credit of %d mg: must be positive", mg)
}

// creditResult rebuilds the result of an existing credit.
func creditResult(ctx context.Context, tx *store.Tx, ref string) (CreditResult, error) {
	t, found, err := findTx(ctx, tx, ref)
	if err != nil {
		return CreditResult{}, err
	}
	if !found || t.kind != KindCredit {
		return CreditResult{}, oc.Errorf(oc.EConflict, "ledger reference %q is used by a %s", ref, t.kind)
	}
	_, pts, err := txAmounts(ctx, tx, t.id)
	if err != nil {
		return CreditResult{}, err
	}
	return CreditResult{TxID: t.id, Points: pts, DebtRepaid: t.debt}, nil
}

// Grant is a bonus of points (a campaign multiplier, a welcome gift) to a
// sub-account, without reduction.
type Grant struct {
	Parent, Sub, Points int64
	Ref                 string
	ExpiresAt           time.Time // zero: the default period
}

// GrantTx posts g in tx: Points move from AccountBonus to the sub-account,
// repaying debt first; the rest joins a lot. Idempotent on Ref. Errors:
// EInvalid, EConflict (Ref names a transaction that is not a grant).
func GrantTx(ctx context.Context, tx *store.Tx, g Grant) (txID int64, err error) {
	if err := checkAccounts(g.Parent, g.Sub, true); err != nil {
		return 0, err
	}
	if err := checkRef(g.Ref); err != nil {
		return 0, err
	}
	if g.Points <= 0 {
		return 0, oc.Errorf(oc.EInvalid, "grant of %d points: must be positive", g.Points)
	}
	exp, err := lotExpiry(tx, g.ExpiresAt)
	if err != nil {
		return 0, err
	}
	id, ok, err := insertHead(ctx, tx, g.Ref, KindGrant, g.Parent, g.Sub, "", 0)
	if err != nil {
		return 0, err
	}
	if !ok {
		return existing(ctx, tx, g.Ref, KindGrant)
	}
	r, err := inflow(ctx, tx, id, g.Parent, g.Sub, 0, g.Points, AccountBonus, exp, new(int))
	if err == nil {
		err = setDebt(ctx, tx, id, r.repaid)
	}
	if err != nil {
		return 0, err
	}
	return id, nil
}

// existing returns the id of the transaction ref, which must be of kind.
func existing(ctx context.Context, tx *store.Tx, ref, kind string) (int64, error) {
	t, found, err := findTx(ctx, tx, ref)
	if err != nil {
		return 0, err
	}
	if !found || t.kind != kind {
		return 0, oc.Errorf(oc.EConflict, "ledger reference %q is used by a %s", ref, t.kind)
	}
	return t.id, nil
}

// netExpr is a sub-account's net points position after an inflow of
// excluded.mg milligrams (default scheme) plus $5 points.
const netExpr = `(ledger_balances.points - ledger_balances.debt + (ledger_balances.mg + excluded.mg) / 1000 - ledger_balances.mg / 1000 + $5)`

// subInflowSQL applies an inflow to a sub-account row in one statement and
// returns the new row.
const subInflowSQL = `INSERT INTO ledger_balances (parent, sub, mg, points, debt) VALUES ($1, $2, $3, $4, 0)
	ON CONFLICT (parent, sub) DO UPDATE SET mg = ledger_balances.mg + excluded.mg,
	points = CASE WHEN ` + netExpr + ` >= 0 THEN ` + netExpr + ` ELSE 0 END,
	debt = CASE WHEN ` + netExpr + ` < 0 THEN -` + netExpr + ` ELSE 0 END
	RETURNING mg, points, debt`

// inflowResult is what an inflow did to a sub-account.
type inflowResult struct {
	points int64 // points posted
	repaid int64 // of which repaid debt
	lot    int64 // of which became spendable
}

// insertHead inserts the head of a credit or grant (see insertTx). On
// PostgreSQL it also takes the parent lock and adds mg to the parent row,
// in the same statement.
func insertHead(ctx context.Context, tx *store.Tx, ref, kind string, parent, sub int64, calcID string, mg int64) (int64, bool, error) {
	if tx.Dialect == store.Postgres {
		return pgInsertTxLocked(ctx, tx, ref, kind, parent, sub, calcID, mg)
	}
	return insertTx(ctx, tx, ref, kind, parent, sub, calcID, 0, "", 0)
}

// inflow posts mg (earning points by the default scheme) plus extra points
// from src to a sub-account, in the transaction txID: balances, postings,
// the parent rollup and the lot expiring at exp (unix micros; exp < 0
// leaves the lots to the caller). On PostgreSQL the caller holds the
// parent lock and has added mg to the parent row (insertHead).
func inflow(ctx context.Context, tx *store.Tx, txID, parent, sub, mg, extra, src, exp int64, seq *int) (inflowResult, error) {
	if tx.Dialect == store.Postgres {
		return pgInflow(ctx, tx, txID, parent, sub, mg, extra, src, exp, seq)
	}
	var after bal
	var err error
	if err := queryRow(ctx, tx, subInflowSQL, parent, sub, mg, mg/MGPerPoint+extra, extra).
		Scan(&after.mg, &after.points, &after.debt); err != nil {
		return inflowResult{}, fmt.Errorf("ledger balance %d/%d: %w", parent, sub, err)
	}
	delta := pointsFor(after.mg-mg, after.mg) + extra
	oldPoints, oldDebt := split(after.points - after.debt - delta)
	r := inflowResult{points: delta, repaid: oldDebt - after.debt, lot: after.points - oldPoints}
	if err := insertPostingsFrom(ctx, tx, txID, seq,
		posting{src, sub, AssetMG, mg},
		posting{src, sub, AssetPoints, delta}); err != nil {
		return r, err
	}
	d := bal{mg: mg, points: r.lot, debt: -r.repaid}
	if d.debt < 0 {
		// The parent row exists (it holds the debt): a plain update keeps
		// the upsert's proposed row from failing debt >= 0.
		err = updateBalance(ctx, tx, parent, 0, d)
	} else {
		err = addBalance(ctx, tx, parent, 0, d)
	}
	if err != nil {
		return r, err
	}
	if r.lot > 0 && exp >= 0 {
		if err := addLot(ctx, tx, parent, sub, store.Micros(tx.Now), exp, r.lot); err != nil {
			return r, err
		}
	}
	return r, nil
}

// setDebt records on transaction txID the debt it repaid or incurred. It
// is only ever called in the transaction that inserted txID.
func setDebt(ctx context.Context, tx *store.Tx, txID, debt int64) error {
	if debt == 0 {
		return nil
	}
	if _, err := exec(ctx, tx, `UPDATE ledger_tx SET debt = $1 WHERE id = $2`, debt, txID); err != nil {
		return fmt.Errorf("ledger debt: %w", err)
	}
	return nil
}

// addLot adds points to the sub-account's lot expiring at exp.
func addLot(ctx context.Context, tx *store.Tx, parent, sub, creditedAt, exp, points int64) error {
	_, err := exec(ctx, tx, `INSERT INTO ledger_lots (parent, sub, credited_at, expires_at, remaining) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (sub, expires_at) DO UPDATE SET remaining = ledger_lots.remaining + excluded.remaining`,
		parent, sub, creditedAt, exp, points)
	if err != nil {
		return fmt.Errorf("ledger lot %d: %w", sub, err)
	}
	return nil
}
