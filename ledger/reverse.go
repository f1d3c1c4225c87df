package ledger

import (
	"context"
	"fmt"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

// Reversal is what reversing a credit (or a grant) did.
type Reversal struct {
	TxID   int64
	MG     int64 // reduction taken back (the credit's mg; 0 for a grant)
	Points int64 // points taken from the spendable balance
	Debt   int64 // points that could not be taken back because they were spent: recorded as debt
}

// ReverseTx reverses the credit or grant ref in tx under reversalRef,
// with reason kept as the entry's note. The credit's mg goes back to
// AccountIssuance, and with it the points the scheme no longer grants for
// the lower cumulative reduction: floor(mg/1000) − floor((mg−M)/1000) of
// the sub-account's mg, so net points stay exactly floor(mg/1000) (a grant
// gives back its own points). Points still spendable are taken from the
// newest lots; the rest becomes debt that later inflows repay first.
// Reversing the same credit again, under any reversalRef, returns the first
// reversal and changes nothing. Errors: ENotFound (no transaction ref),
// ENotCredited (ref is not a credit or a grant), EInvalid (empty reason or
// reversalRef), EConflict (reversalRef names another transaction).
func ReverseTx(ctx context.Context, tx *store.Tx, ref, reversalRef, reason string) (Reversal, error) {
	return reverse(ctx, tx, fmt.Sprintf("%q", ref), func() (txRow, bool, error) { return findTx(ctx, tx, ref) }, reversalRef, reason)
}

// ReverseIDTx is ReverseTx for the transaction with id id, which may have
// no ref (the intake's credits). Errors: as ReverseTx.
func ReverseIDTx(ctx context.Context, tx *store.Tx, id int64, reversalRef, reason string) (Reversal, error) {
	return reverse(ctx, tx, fmt.Sprintf("transaction %d", id), func() (txRow, bool, error) { return findTxID(ctx, tx, id) }, reversalRef, reason)
}

// reverse reverses the transaction find returns, named name in errors
// (see ReverseTx).
func reverse(ctx context.Context, tx *store.Tx, name string, find func() (txRow, bool, error), reversalRef, reason string) (Reversal, error) {
	if err := checkRef(reversalRef); err != nil {
		return Reversal{}, err
	}
	if reason == "" || len(reason) > 500 {
		return Reversal{}, oc.Errorf(oc.EInvalid, "a reversal needs a reason of 1 to 500 bytes")
	}
	orig, found, err := find()
	if err != nil {
		return Reversal{}, err
	}
	if !found {
		return Reversal{}, oc.Errorf(oc.ENotFound, "no ledger transaction %s", name)
	}
	if orig.kind != KindCredit && orig.kind != KindGrant {
		return Reversal{}, oc.Errorf(oc.ENotCredited, "%s is a %s, not a credit", name, orig.kind)
	}
	if _, err := lockParent(ctx, tx, orig.parent); err != nil {
		return Reversal{}, err
	}
	if t, found, err := findTx(ctx, tx, reversalRef); err != nil {
		return Reversal{}, err
	} else if found {
		if t.kind != KindReversal || !t.orig.Valid || t.orig.Int64 != orig.id {
			return Reversal{}, oc.Errorf(oc.EConflict, "ledger reference %q is used by another transaction", reversalRef)
		}
		return reversalOf(ctx, tx, t)
	}
	if t, found, err := findByOrig(ctx, tx, orig.id); err != nil {
		return Reversal{}, err
	} else if found {
		return reversalOf(ctx, tx, t)
	}
	mg, pts, err := txAmounts(ctx, tx, orig.id)
	if err != nil {
		return Reversal{}, err
	}
	b, err := subBalance(ctx, tx, orig.parent, orig.sub)
	if err != nil {
		return Reversal{}, err
	}
	back, src := pts, AccountBonus
	if orig.kind == KindCredit {
		back, src = pointsFor(b.mg-mg, b.mg), AccountIssuance
	}
	newPoints, newDebt := split(b.points - b.debt - back)
	rv := Reversal{MG: mg, Points: b.points - newPoints, Debt: newDebt - b.debt}
	rv.TxID, _, err = insertTx(ctx, tx, reversalRef, KindReversal, orig.parent, orig.sub, "", orig.id, reason, rv.Debt)
	if err != nil {
		return Reversal{}, err
	}
	if err := insertPostings(ctx, tx, rv.TxID,
		posting{orig.sub, src, AssetMG, mg},
		posting{orig.sub, src, AssetPoints, back}); err != nil {
		return Reversal{}, err
	}
	if err := updateBalance(ctx, tx, orig.parent, orig.sub, bal{mg: -mg, points: -rv.Points, debt: rv.Debt}); err != nil {
		return Reversal{}, err
	}
	if err := updateBalance(ctx, tx, orig.parent, 0, bal{mg: -mg, points: -rv.Points, debt: rv.Debt}); err != nil {
		return Reversal{}, err
	}
	if rv.Points > 0 {
		if _, err := takeLots(ctx, tx, orig.parent, orig.sub, rv.Points, true); err != nil {
			return Reversal{}, err
		}
	}
	return rv, nil
}

// reversalOf rebuilds the result of an existing reversal.
func reversalOf(ctx context.Context, tx *store.Tx, t txRow) (Reversal, error) {
	mg, pts, err := txAmounts(ctx, tx, t.id)
	if err != nil {
		return Reversal{}, err
	}
	return Reversal{TxID: t.id, MG: -mg, Points: -pts - t.debt, Debt: t.debt}, nil
}
