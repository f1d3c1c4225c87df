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
	claim NonceClaim
	done  chan error
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
	req := &nonceReq{claim: NonceClaim{partner: partner, nonce: nonce, now: now, expires: expires}, done: make(chan error, 1)}
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
	claims := make([]NonceClaim, len(batch))
	for i, r := range batch {
		claims[i] = r.claim
	}
	var results []error
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		results, err = ClaimNoncesTx(ctx, tx, claims)
		return err
	})
	for i, r := range batch {
		if err != nil {
			r.done <- fmt.Errorf("record nonce: %w", err)
			continue
		}
		r.done <- results[i]
	}
}

// A NonceClaim is the nonce of a request checked by VerifyDeferred, to be
// recorded with ClaimNoncesTx in the caller's write transaction.
type NonceClaim struct {
	partner, nonce string
	now, expires   time.Time
}

// qClaimNonces records nonces of active partners, taking over expired
// records, and returns the ones it recorded.
var qClaimNonces = store.NewBulkWrite(`INSERT INTO partner_nonces (partner, nonce, seen_at, expires_at)
	SELECT v.column1, v.column2, v.column3, v.column4 FROM (VALUES `, 4, `) AS v
	WHERE EXISTS (SELECT 1 FROM partners WHERE id = v.column1 AND status = 'active')
	ON CONFLICT (partner, nonce) DO UPDATE SET seen_at = excluded.seen_at, expires_at = excluded.expires_at
	WHERE partner_nonces.expires_at < excluded.seen_at
	RETURNING partner, nonce`,
	`INSERT INTO partner_nonces (partner, nonce, seen_at, expires_at)
	SELECT u.p, u.n, u.s, u.e FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS u(p, n, s, e)
	WHERE EXISTS (SELECT 1 FROM partners WHERE id = u.p AND status = 'active')
	ON CONFLICT (partner, nonce) DO UPDATE SET seen_at = excluded.seen_at, expires_at = excluded.expires_at
	WHERE partner_nonces.expires_at < excluded.seen_at
	RETURNING partner, nonce`)

// ClaimNoncesTx records the nonces of claims in tx, with one statement
// for up to a few hundred, and returns one result per claim: nil, or, to
// refuse that request (the caller then writes nothing for it), an error
// with ENonceReused when the nonce was already used (a record still in its
// window exists, or an earlier claim of the list has the same nonce), or
// with EPartnerSuspended when the partner is no longer active (suspended
// by any process since its row was cached: nothing is recorded). An
// expired record not yet pruned is taken over. err is a database failure;
// the claims may then be run again in a new transaction.
func ClaimNoncesTx(ctx context.Context, tx *store.Tx, claims []NonceClaim) ([]error, error) {
	type key struct{ partner, nonce string }
	out := make([]error, len(claims))
	todo := make([]int, 0, len(claims))
	seen := make(map[key]bool, len(claims))
	for i, c := range claims {
		if k := (key{c.partner, c.nonce}); seen[k] {
			out[i] = nonceReused()
		} else {
			seen[k] = true
			todo = append(todo, i)
		}
	}
	// The status check rides in the insert (a primary-key lookup, no
	// extra round trip), which returns the nonces it recorded; only a
	// refusal reads the partner again to say why.
	n := len(todo)
	ps, ns, seenAt, exp := make([]string, n), make([]string, n), make([]int64, n), make([]int64, n)
	for k, i := range todo {
		c := claims[i]
		ps[k], ns[k], seenAt[k], exp[k] = c.partner, c.nonce, store.Micros(c.now), store.Micros(c.expires)
	}
	claimed := make(map[key]bool, n)
	if n == 0 {
		return out, nil
	}
	err := qClaimNonces.Run(ctx, tx, []any{ps, ns, seenAt, exp}, func(scan func(...any) error) error {
		var k key
		if err := scan(&k.partner, &k.nonce); err != nil {
			return err
		}
		claimed[k] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	status := map[string]string{}
	for _, i := range todo {
		c := claims[i]
		if claimed[key{c.partner, c.nonce}] {
			continue
		}
		st, ok := status[c.partner]
		if !ok {
			err := tx.QueryRowContext(ctx, `SELECT status FROM partners WHERE id = $1`, c.partner).Scan(&st)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return nil, err
			}
			status[c.partner] = st
		}
		if st != StatusActive {
			out[i] = suspended(c.partner)
		} else {
			out[i] = nonceReused()
		}
	}
	return out, nil
}

func nonceReused() error {
	return oc.Errorf(oc.ENonceReused, "nonce was already used; send a fresh %s with every request", HeaderNonce)
}
