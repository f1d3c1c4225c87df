package webhook

import (
	"context"
	"time"

	"github.com/opencarbon/opencarbon/store"
)

// Backoff exposes the retry wait after the n-th failure, with d's defaults.
func Backoff(d *Deliverer, n int) time.Duration {
	d.defaults()
	return d.backoff(n)
}

// CreditBlock is the most credits one outbox batch row holds.
const CreditBlock = creditBlock

// PruneTx is one of Prune's transactions: the rows it deleted.
func PruneTx(ctx context.Context, db *store.DB, olderThan time.Duration) (rows int64, err error) {
	err = db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		rows, err = pruneTx(ctx, tx, olderThan, nil)
		return err
	})
	return rows, err
}
