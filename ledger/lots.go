package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/webhook"
)

// Lot is a sub-account's points that expire together.
type Lot struct {
	ID         int64     `json:"id"`
	Sub        int64     `json:"sub"`
	CreditedAt time.Time `json:"credited_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Points     int64     `json:"points"` // remaining
}

// lotTake is an amount taken from one lot.
type lotTake struct {
	id, sub               int64
	creditedAt, expiresAt int64
	amount                int64
}

// takeLots takes amount points from the lots of parent (of sub only when
// sub != 0), oldest first, or newest first when newest is set. The caller
// holds the parent lock and has checked the balance.
func takeLots(ctx context.Context, tx *store.Tx, parent, sub, amount int64, newest bool) ([]lotTake, error) {
	q := `SELECT id, sub, credited_at, expires_at, remaining FROM ledger_lots WHERE parent = $1 AND remaining > 0`
	args := []any{parent}
	if sub != 0 {
		q += ` AND sub = $2`
		args = append(args, sub)
	}
	if newest {
		q += ` ORDER BY credited_at DESC, id DESC`
	} else {
		q += ` ORDER BY credited_at, id`
	}
	if tx.Dialect == store.Postgres {
		q += ` FOR UPDATE`
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger lots %d: %w", parent, err)
	}
	var takes []lotTake
	left := amount
	for rows.Next() && left > 0 {
		var t lotTake
		var remaining int64
		if err := rows.Scan(&t.id, &t.sub, &t.creditedAt, &t.expiresAt, &remaining); err != nil {
			rows.Close()
			return nil, fmt.Errorf("ledger lots %d: %w", parent, err)
		}
		t.amount = min(remaining, left)
		left -= t.amount
		takes = append(takes, t)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger lots %d: %w", parent, err)
	}
	if left > 0 {
		return nil, fmt.Errorf("ledger lots %d/%d: %d points short of the balance (run opencarbon check)", parent, sub, left)
	}
	for _, t := range takes {
		if _, err := tx.ExecContext(ctx, `UPDATE ledger_lots SET remaining = remaining - $1 WHERE id = $2`, t.amount, t.id); err != nil {
			return nil, fmt.Errorf("ledger lot %d: %w", t.id, err)
		}
	}
	sort.SliceStable(takes, func(i, j int) bool {
		if takes[i].sub != takes[j].sub {
			return takes[i].sub < takes[j].sub
		}
		return takes[i].expiresAt < takes[j].expiresAt
	})
	return takes, nil
}

// Expiring returns parent's lots with points that expire within the given
// time from now, soonest first.
func (s *Service) Expiring(ctx context.Context, parent int64, within time.Duration) ([]Lot, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, sub, credited_at, expires_at, remaining FROM ledger_lots
		WHERE parent = $1 AND remaining > 0 AND expires_at <= $2 ORDER BY expires_at, id`,
		parent, store.Micros(s.db.Now().Add(within)))
	if err != nil {
		return nil, fmt.Errorf("ledger expiring %d: %w", parent, err)
	}
	defer rows.Close()
	out := []Lot{}
	for rows.Next() {
		var l Lot
		var c, e int64
		if err := rows.Scan(&l.ID, &l.Sub, &c, &e, &l.Points); err != nil {
			return nil, fmt.Errorf("ledger expiring %d: %w", parent, err)
		}
		l.CreditedAt, l.ExpiresAt = store.Time(c), store.Time(e)
		out = append(out, l)
	}
	return out, rows.Err()
}

// expiryBatch bounds the lots expired per transaction.
const expiryBatch = 500

// ExpireDue expires every lot whose expiry is at or before now: one expiry
// transaction per lot (ref "expire:<lot id>") moves its remaining points to
// AccountExpiry and the lot is removed. mg is never touched. It first
// sends the notices of lots expiring within NoticeWindow (NotifyExpiring),
// so callers that only expire still warn people. It returns the number of
// lots with points that expired and their points.
func (s *Service) ExpireDue(ctx context.Context, now time.Time) (lots int, points int64, err error) {
	if _, err := s.NotifyExpiring(ctx, now, NoticeWindow); err != nil {
		return 0, 0, err
	}
	for {
		parents, err := s.dueParents(ctx, store.Micros(now))
		if err != nil || len(parents) == 0 {
			return lots, points, err
		}
		err = s.db.InTx(ctx, func(tx *store.Tx) error {
			n, p := 0, int64(0)
			for _, parent := range parents {
				ln, lp, err := expireParentTx(ctx, tx, parent, store.Micros(now))
				if err != nil {
					return err
				}
				n, p = n+ln, p+lp
			}
			lots, points = lots+n, points+p
			return nil
		})
		if err != nil {
			return lots, points, err
		}
	}
}

// dueParents lists parents that have due lots, ascending (the lock order).
func (s *Service) dueParents(ctx context.Context, now int64) ([]int64, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT DISTINCT parent FROM
		(SELECT parent FROM ledger_lots WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2) d ORDER BY parent`, now, expiryBatch)
	if err != nil {
		return nil, fmt.Errorf("ledger due lots: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("ledger due lots: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// expireParentTx expires parent's due lots in tx.
func expireParentTx(ctx context.Context, tx *store.Tx, parent, now int64) (lots int, points int64, err error) {
	if _, err := lockParent(ctx, tx, parent); err != nil {
		return 0, 0, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, sub, remaining FROM ledger_lots WHERE parent = $1 AND expires_at <= $2 ORDER BY sub, id`, parent, now)
	if err != nil {
		return 0, 0, fmt.Errorf("ledger expire %d: %w", parent, err)
	}
	var due []lotTake
	for rows.Next() {
		var t lotTake
		if err := rows.Scan(&t.id, &t.sub, &t.amount); err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("ledger expire %d: %w", parent, err)
		}
		due = append(due, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("ledger expire %d: %w", parent, err)
	}
	for _, t := range due {
		if t.amount > 0 {
			id, ok, err := insertTx(ctx, tx, "expire:"+strconv.FormatInt(t.id, 10), KindExpiry, parent, t.sub, "", 0, "", 0)
			if err != nil {
				return 0, 0, err
			}
			if ok {
				if err := outflow(ctx, tx, id, parent, AccountExpiry, []lotTake{t}); err != nil {
					return 0, 0, err
				}
				lots, points = lots+1, points+t.amount
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM ledger_lots WHERE id = $1`, t.id); err != nil {
			return 0, 0, fmt.Errorf("ledger expire lot %d: %w", t.id, err)
		}
	}
	return lots, points, nil
}

// ExpiringNotice is the body of a points.expiring outbox message.
type ExpiringNotice struct {
	Account   int64     `json:"account"` // parent account id
	Sub       int64     `json:"sub"`
	Lot       int64     `json:"lot"`
	Points    int64     `json:"points"`
	ExpiresAt time.Time `json:"expires_at"`
}

// NotifyExpiring enqueues one webhook.TopicPointsExpiring message per lot
// that still holds points and expires within window after now, once per
// lot. The partner of the message is s.PartnerOf(sub) when set. It returns
// the number of notices enqueued.
func (s *Service) NotifyExpiring(ctx context.Context, now time.Time, window time.Duration) (int, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, parent, sub, remaining, expires_at FROM ledger_lots
		WHERE expires_at > $1 AND expires_at <= $2 AND remaining > 0 AND notified = 0 ORDER BY expires_at, id LIMIT 10000`,
		store.Micros(now), store.Micros(now.Add(window)))
	if err != nil {
		return 0, fmt.Errorf("ledger expiring notices: %w", err)
	}
	var due []ExpiringNotice
	for rows.Next() {
		var n ExpiringNotice
		var exp int64
		if err := rows.Scan(&n.Lot, &n.Account, &n.Sub, &n.Points, &exp); err != nil {
			rows.Close()
			return 0, fmt.Errorf("ledger expiring notices: %w", err)
		}
		n.ExpiresAt = store.Time(exp)
		due = append(due, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("ledger expiring notices: %w", err)
	}
	sent := 0
	for len(due) > 0 {
		batch := due[:min(len(due), expiryBatch)]
		due = due[len(batch):]
		// The lock order of every ledger write: parent first, parents
		// ascending.
		sort.Slice(batch, func(i, j int) bool {
			if batch[i].Account != batch[j].Account {
				return batch[i].Account < batch[j].Account
			}
			return batch[i].Lot < batch[j].Lot
		})
		n := 0
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			n = 0
			for i, m := range batch {
				if i == 0 || batch[i-1].Account != m.Account {
					if _, err := lockParent(ctx, tx, m.Account); err != nil {
						return err
					}
				}
				res, err := tx.ExecContext(ctx, `UPDATE ledger_lots SET notified = 1 WHERE id = $1 AND notified = 0 AND remaining > 0`, m.Lot)
				if err != nil {
					return fmt.Errorf("ledger notice lot %d: %w", m.Lot, err)
				}
				if k, _ := res.RowsAffected(); k == 0 {
					continue
				}
				partner := ""
				if s.PartnerOf != nil {
					if partner, err = s.PartnerOf(ctx, m.Sub); err != nil {
						return err
					}
				}
				if err := webhook.EnqueueTx(ctx, tx, webhook.TopicPointsExpiring, partner, m.Account, m); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return sent, err
		}
		sent += n
	}
	return sent, nil
}

// NoticeWindow is how long before expiry a points.expiring notice goes out.
const NoticeWindow = 7 * 24 * time.Hour

// RunExpiry sends expiry notices and expires due lots now and then every
// interval until ctx ends (the daily job of serve). Errors are logged and
// retried at the next run.
func (s *Service) RunExpiry(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 24 * time.Hour
	}
	log := slog.Default().With("component", "ledger.expiry")
	for {
		now := s.db.Now()
		if n, err := s.NotifyExpiring(ctx, now, NoticeWindow); err != nil {
			log.Error("expiry notices", "err", err)
		} else if n > 0 {
			log.Info("expiry notices", "lots", n)
		}
		if lots, pts, err := s.ExpireDue(ctx, now); err != nil {
			log.Error("expire lots", "err", err)
		} else if lots > 0 {
			log.Info("expired lots", "lots", lots, "points", pts)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
