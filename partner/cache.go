package partner

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opencarbon/opencarbon/store"
)

// maxCached bounds the secret cache; past it the cache starts over, so
// requests naming random partner ids cannot grow memory.
const maxCached = 4096

// validSecret is a decrypted secret and when it stops working (zero: the
// current secret, no end).
type validSecret struct {
	secret  string
	version int64
	expires time.Time
}

func (k validSecret) validAt(t time.Time) bool { return k.expires.IsZero() || t.Before(k.expires) }

// cached is a partner's row and decrypted secrets (newest first) as read
// at a time; p is nil for an id that is not registered.
type cached struct {
	p       *Partner
	secrets []validSecret
	at      time.Time
}

// secrets returns partner id (nil if unknown) and its valid secrets,
// newest first, from a cache at most CacheTTL old. A suspended partner is
// never answered from the cache, so a reinstatement made by any process
// shows at once; a suspension made by another process shows at once too,
// because the nonce claim checks the status in its transaction (see
// ClaimNoncesTx). Scope changes made by another process show within
// CacheTTL.
func (s *Service) secrets(ctx context.Context, id string) (*Partner, []validSecret, error) {
	s.mu.Lock()
	c, ok := s.cache[id]
	s.mu.Unlock()
	if ok && time.Since(c.at) < s.CacheTTL && (c.p == nil || c.p.Active()) {
		return c.p, c.secrets, nil
	}
	p, secrets, err := s.load(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	if len(s.cache) >= maxCached {
		clear(s.cache)
	}
	s.cache[id] = cached{p: p, secrets: secrets, at: time.Now()}
	s.mu.Unlock()
	return p, secrets, nil
}

// forget drops id from the cache so a change made here shows at once.
func (s *Service) forget(id string) {
	s.mu.Lock()
	delete(s.cache, id)
	s.mu.Unlock()
}

// load reads a partner, active or suspended, and decrypts its unexpired
// secrets.
func (s *Service) load(ctx context.Context, id string) (*Partner, []validSecret, error) {
	if !ValidID(id) {
		return nil, nil, nil
	}
	rd := s.db.Read()
	p, err := scanPartner(rd.QueryRowContext(ctx, `SELECT `+partnerCols+` FROM partners WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load partner: %w", err)
	}
	rows, err := rd.QueryContext(ctx, `SELECT version, secret, expires_at FROM partner_secrets
		WHERE partner = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY version DESC`, id, store.Micros(s.db.Now()))
	if err != nil {
		return nil, nil, fmt.Errorf("load partner secrets: %w", err)
	}
	defer rows.Close()
	var out []validSecret
	for rows.Next() {
		var k validSecret
		var sealed string
		var exp sql.NullInt64
		if err := rows.Scan(&k.version, &sealed, &exp); err != nil {
			return nil, nil, fmt.Errorf("load partner secrets: %w", err)
		}
		if k.secret, err = open(s.key, sealed, aad(id, k.version)); err != nil {
			return nil, nil, fmt.Errorf("partner %s: %w", id, err)
		}
		if exp.Valid {
			k.expires = store.Time(exp.Int64)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("load partner secrets: %w", err)
	}
	return p, out, nil
}
