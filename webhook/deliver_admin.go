package webhook

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

const deliveryColumns = `id, message_id, partner, topic, status, attempts, next_at, last_status, last_error, created_at, delivered_at`

func scanDelivery(r interface{ Scan(...any) error }) (Delivery, error) {
	var x Delivery
	var next, created int64
	var delivered sql.NullInt64
	err := r.Scan(&x.ID, &x.MessageID, &x.Partner, &x.Topic, &x.Status, &x.Attempts, &next, &x.LastStatus, &x.LastError, &created, &delivered)
	if err != nil {
		return x, err
	}
	x.EventID = EventID(x.ID)
	x.NextAt, x.CreatedAt = store.Time(next), store.Time(created)
	if delivered.Valid {
		t := store.Time(delivered.Int64)
		x.DeliveredAt = &t
	}
	return x, nil
}

// Delivery returns delivery id. Errors: ENotFound.
func (d *Deliverer) Delivery(ctx context.Context, id int64) (Delivery, error) {
	x, err := scanDelivery(d.DB.Read().QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = $1`, id))
	if isNoRows(err) {
		return x, oc.Errorf(oc.ENotFound, "delivery %d does not exist", id)
	}
	if err != nil {
		return x, fmt.Errorf("delivery: %w", err)
	}
	return x, nil
}

// Deliveries returns the deliveries in status (all when ""), newest first,
// at most limit (1..1000) with an id below before (0: from the newest).
func (d *Deliverer) Deliveries(ctx context.Context, status string, before int64, limit int) ([]Delivery, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := d.DB.Read().QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE ($1 = '' OR status = $1) AND id < $2 ORDER BY id DESC LIMIT $3`, status, before, limit)
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		x, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("deliveries: %w", err)
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// DeadLetters returns the dead deliveries, newest first (see Deliveries).
func (d *Deliverer) DeadLetters(ctx context.Context, before int64, limit int) ([]Delivery, error) {
	return d.Deliveries(ctx, StatusDead, before, limit)
}

// Retry puts delivery id back to pending, due now, with a fresh budget of
// attempts. Errors: ENotFound, EConflict (already delivered).
func (d *Deliverer) Retry(ctx context.Context, id int64) (Delivery, error) {
	err := d.DB.InTx(ctx, func(tx *store.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status FROM webhook_deliveries WHERE id = $1`, id).Scan(&status)
		if isNoRows(err) {
			return oc.Errorf(oc.ENotFound, "delivery %d does not exist", id)
		}
		if err != nil {
			return fmt.Errorf("retry delivery: %w", err)
		}
		if status == StatusDelivered {
			return oc.Errorf(oc.EConflict, "delivery %d was already delivered", id)
		}
		_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $2, attempts = 0, next_at = $3 WHERE id = $1`,
			id, StatusPending, store.Micros(tx.Now))
		if err != nil {
			return fmt.Errorf("retry delivery: %w", err)
		}
		return nil
	})
	if err != nil {
		return Delivery{}, err
	}
	return d.Delivery(ctx, id)
}

// PruneDelivered deletes deliveries delivered before t and returns how
// many went. Pending and dead deliveries are never pruned.
func (d *Deliverer) PruneDelivered(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := d.DB.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE status = $1 AND delivered_at < $2`, StatusDelivered, store.Micros(t))
		if err != nil {
			return fmt.Errorf("prune deliveries: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}
