package ledger

import (
	"context"
	"fmt"
	"sort"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

// Spend takes points for a reward. Sub 0 spends from the parent total
// (platform offers: the oldest lots across all sub-accounts); a sub-account
// id spends only that sub-account's lots (its partner's mall).
type Spend struct {
	Parent int64
	Sub    int64
	Points int64
	Ref    string // idempotency key
	Kind   string // what the points bought ("redemption", "donation", ...), kept as the entry's note
}

// SpendTx moves s.Points from the sub-accounts to AccountRedemption,
// oldest lots first, in tx. From the parent total, at most the parent's
// points minus its debt can be spent. It never overspends: the parent row is locked
// first (PostgreSQL) and the balance checked under that lock. A second call
// with the same Ref returns the first transaction id. Errors: EInvalid,
// EInsufficientPoints (nothing changed), EConflict (Ref names a
// transaction that is not a spend).
func SpendTx(ctx context.Context, tx *store.Tx, s Spend) (txID int64, err error) {
	if err := checkAccounts(s.Parent, s.Sub, false); err != nil {
		return 0, err
	}
	if err := checkRef(s.Ref); err != nil {
		return 0, err
	}
	if s.Points <= 0 {
		return 0, oc.Errorf(oc.EInvalid, "spend of %d points: must be positive", s.Points)
	}
	if len(s.Kind) > 64 {
		return 0, oc.Errorf(oc.EInvalid, "spend kind longer than 64 bytes")
	}
	parent, err := lockParent(ctx, tx, s.Parent)
	if err != nil {
		return 0, err
	}
	if t, found, err := findTx(ctx, tx, s.Ref); err != nil {
		return 0, err
	} else if found {
		if t.kind != KindSpend {
			return 0, oc.Errorf(oc.EConflict, "ledger reference %q is used by a %s", s.Ref, t.kind)
		}
		return t.id, nil
	}
	// A spend from the parent total is covered by the net position: debt
	// in one sub-account holds back points of the others. A partner mall
	// spends one sub-account's points, which are never held with debt.
	avail := max(parent.points-parent.debt, 0)
	if s.Sub != 0 {
		b, err := subBalance(ctx, tx, s.Parent, s.Sub)
		if err != nil {
			return 0, err
		}
		avail = b.points
	}
	if avail < s.Points {
		return 0, oc.Errorf(oc.EInsufficientPoints, "%d points needed, %d available", s.Points, avail)
	}
	id, ok, err := insertTx(ctx, tx, s.Ref, KindSpend, s.Parent, s.Sub, "", 0, s.Kind, 0)
	if err != nil {
		return 0, err
	}
	if !ok {
		return existing(ctx, tx, s.Ref, KindSpend)
	}
	takes, err := takeLots(ctx, tx, s.Parent, s.Sub, s.Points, false)
	if err != nil {
		return 0, err
	}
	if err := outflow(ctx, tx, id, s.Parent, AccountRedemption, takes); err != nil {
		return 0, err
	}
	for _, t := range takes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_lot_spends (tx_id, sub, expires_at, credited_at, amount) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (tx_id, sub, expires_at) DO UPDATE SET amount = ledger_lot_spends.amount + excluded.amount`,
			id, t.sub, t.expiresAt, t.creditedAt, t.amount); err != nil {
			return 0, fmt.Errorf("ledger spend lots: %w", err)
		}
	}
	return id, nil
}

// outflow posts the points taken from lots to dst, one posting per
// sub-account, and lowers the sub-account and parent balances.
func outflow(ctx context.Context, tx *store.Tx, txID, parent, dst int64, takes []lotTake) error {
	bySub := map[int64]int64{}
	var total int64
	for _, t := range takes {
		bySub[t.sub] += t.amount
		total += t.amount
	}
	subs := make([]int64, 0, len(bySub))
	for sub := range bySub {
		subs = append(subs, sub)
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i] < subs[j] })
	ps := make([]posting, 0, len(subs))
	for _, sub := range subs {
		ps = append(ps, posting{sub, dst, AssetPoints, bySub[sub]})
		if err := updateBalance(ctx, tx, parent, sub, bal{points: -bySub[sub]}); err != nil {
			return err
		}
	}
	if err := insertPostings(ctx, tx, txID, ps...); err != nil {
		return err
	}
	return updateBalance(ctx, tx, parent, 0, bal{points: -total})
}

// RefundTx returns exactly the points of the spend spendRef, once: they
// move back from AccountRedemption into the lots they were taken from
// (recreated if gone; a lot already past its expiry expires again at the
// next run), repaying any debt first. A second call with the same
// refundRef, or any call for a spend already refunded, returns the first
// refund's id and changes nothing. Errors: ENotFound (no such spend),
// EInvalid, EConflict (refundRef names a transaction of another kind).
func RefundTx(ctx context.Context, tx *store.Tx, spendRef, refundRef string) (txID int64, err error) {
	if err := checkRef(refundRef); err != nil {
		return 0, err
	}
	sp, found, err := findTx(ctx, tx, spendRef)
	if err != nil {
		return 0, err
	}
	if !found || sp.kind != KindSpend {
		return 0, oc.Errorf(oc.ENotFound, "no spend %q", spendRef)
	}
	if _, err := lockParent(ctx, tx, sp.parent); err != nil {
		return 0, err
	}
	if t, found, err := findTx(ctx, tx, refundRef); err != nil {
		return 0, err
	} else if found {
		if t.kind != KindRefund {
			return 0, oc.Errorf(oc.EConflict, "ledger reference %q is used by a %s", refundRef, t.kind)
		}
		return t.id, nil
	}
	if t, found, err := findByOrig(ctx, tx, sp.id); err != nil || found {
		return t.id, err
	}
	id, ok, err := insertTx(ctx, tx, refundRef, KindRefund, sp.parent, sp.sub, "", sp.id, "", 0)
	if err != nil {
		return 0, err
	}
	if !ok {
		return existing(ctx, tx, refundRef, KindRefund)
	}
	takes, err := spentLots(ctx, tx, sp.id)
	if err != nil {
		return 0, err
	}
	var repaid int64
	seq := 0
	for _, g := range groupBySub(takes) {
		r, err := inflow(ctx, tx, id, sp.parent, g.sub, 0, g.total, AccountRedemption, -1, &seq)
		if err != nil {
			return 0, err
		}
		repaid += r.repaid
		// Restore the lots, the soonest-expiring ones first absorbing what
		// went to repay debt.
		skip := r.repaid
		for _, t := range g.takes {
			n := t.amount
			if skip > 0 {
				cut := min(skip, n)
				n, skip = n-cut, skip-cut
			}
			if n > 0 {
				if err := addLot(ctx, tx, sp.parent, t.sub, t.creditedAt, t.expiresAt, n); err != nil {
					return 0, err
				}
			}
		}
	}
	return id, setDebt(ctx, tx, id, repaid)
}

// spentLots returns the lots a spend took its points from, soonest expiry
// first.
func spentLots(ctx context.Context, tx *store.Tx, spendID int64) ([]lotTake, error) {
	rows, err := tx.QueryContext(ctx, `SELECT sub, expires_at, credited_at, amount FROM ledger_lot_spends WHERE tx_id = $1
		ORDER BY sub, expires_at`, spendID)
	if err != nil {
		return nil, fmt.Errorf("ledger spent lots: %w", err)
	}
	defer rows.Close()
	var out []lotTake
	for rows.Next() {
		var t lotTake
		if err := rows.Scan(&t.sub, &t.expiresAt, &t.creditedAt, &t.amount); err != nil {
			return nil, fmt.Errorf("ledger spent lots: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

type subTakes struct {
	sub   int64
	total int64
	takes []lotTake
}

// groupBySub groups takes (sorted by sub) per sub-account.
func groupBySub(takes []lotTake) []subTakes {
	var out []subTakes
	for _, t := range takes {
		if len(out) == 0 || out[len(out)-1].sub != t.sub {
			out = append(out, subTakes{sub: t.sub})
		}
		g := &out[len(out)-1]
		g.total += t.amount
		g.takes = append(g.takes, t)
	}
	return out
}
