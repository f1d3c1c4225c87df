package partner

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

// nonceReq is one verified request's nonce waiting to be recorded.
type nonceReq struct {
	partner, nonce string
	now, expires   time.Time
	done           chan error
}

// nonceBatch records nonces with group commit: the first caller to find no
// flush running becomes the leader and writes everything pending in one
// transaction, again and again until nothing is pending; the others wait
// for their own answer. One fsync then serves many requests, instead of
// one write transaction per partner request queued on the single SQLite
// writer. Each caller is answered only after its nonce is durable.
type nonceBatch struct {
	pending  []*nonceReq
	flushing bool
}

// useNonce records nonce for partner until expires, or refuses it with
// ENonceReused when a record still in its window exists (also when the
// same nonce came twice in one batch). An expired record not yet pruned is
// taken over.
func (s *Service) useNonce(ctx context.Context, partner, nonce string, now, expires time.Time) error {
	if expires.Before(now) {
		expires = now
	}
	req := &nonceReq{partner: partner, nonce: nonce, now: now, expires: expires, done: make(chan error, 1)}
	s.mu.Lock()
	s.nonces.pending = append(s.nonces.pending, req)
	if !s.nonces.flushing {
		s.nonces.flushing = true
		for len(s.nonces.pending) > 0 {
			batch := s.nonces.pending
			s.nonces.pending = nil
			s.mu.Unlock()
			s.flushNonces(context.WithoutCancel(ctx), batch)
			s.mu.Lock()
		}
		s.nonces.flushing = false
	}
	s.mu.Unlock()
	select {
	case err := <-req.done:
		if err == nil {
			s.maybePrune(ctx, now)
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) flushNonces(ctx context.Context, batch []*nonceReq) {
	results := make([]error, len(batch))
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		for i, r := range batch {
			var err error
			results[i], err = claimNonceTx(ctx, tx, r.partner, r.nonce, r.now, r.expires)
			if err != nil {
				return err
			}
		}
		return nil
	})
	for i, r := range batch {
		if err != nil {
			r.done <- fmt.Errorf("record nonce: %w", err)
			continue
		}
		r.done <- results[i]
	}
}

// claimNonceTx records nonce for partner in tx and returns nil, or as
// refused ENonceReused when a record still in its window exists, or
// EPartnerSuspended when the partner is no longer active (suspended by
// any process since its row was cached: nothing is recorded). An expired
// record not yet pruned is taken over. err is a database failure.
func claimNonceTx(ctx context.Context, tx *store.Tx, partner, nonce string, now, expires time.Time) (refused, err error) {
	// The status check rides in the insert (a primary-key lookup, no
	// extra round trip); only a refusal reads the row again to say why.
	res, err := tx.ExecContext(ctx, `INSERT INTO partner_nonces (partner, nonce, seen_at, expires_at)
		SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM partners WHERE id = $1 AND status = 'active')
		ON CONFLICT (partner, nonce) DO UPDATE SET seen_at = excluded.seen_at, expires_at = excluded.expires_at
		WHERE partner_nonces.expires_at < excluded.seen_at`,
		partner, nonce, store.Micros(now), store.Micros(expires))
	if err != nil {
		return nil, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status FROM partners WHERE id = $1`, partner).Scan(&status)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		if status != StatusActive {
			return suspended(partner), nil
		}
		return oc.Errorf(oc.ENonceReused, "nonce was already used; send a fresh %s with every request", HeaderNonce), nil
	}
	return nil, nil
}
