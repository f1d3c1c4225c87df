package campaign

import (
	"context"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/store"
)

// LedgerBonus is the BonusFunc that posts campaign bonuses in the ledger:
// a grant (ledger.GrantTx, idempotent on Ref) for a bonus, and the
// reversal of that grant (ledger.ReverseTx) for a clawback. A clawback of
// a grant that was never made changes nothing.
func LedgerBonus(ctx context.Context, tx *store.Tx, b Bonus) error {
	if b.Points < 0 {
		_, err := ledger.ReverseTx(ctx, tx, b.Reverses, b.Ref, "campaign bonus: credit reversed")
		if oc.ErrorCode(err) == oc.ENotFound {
			return nil
		}
		return err
	}
	_, err := ledger.GrantTx(ctx, tx, ledger.Grant{Parent: b.Parent, Sub: b.Sub, Points: b.Points, Ref: b.Ref, ExpiresAt: b.ExpiresAt})
	return err
}
