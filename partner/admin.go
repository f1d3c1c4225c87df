package partner

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

// Actions recorded in a partner's change trail.
const (
	ActionSuspend   = "suspend"
	ActionReinstate = "reinstate"
	ActionScopes    = "scopes"
)

// MaxReasonLen bounds a suspension or reinstatement reason, in characters.
const MaxReasonLen = 500

// A Change is one entry of a partner's admin trail: who (Actor) did what
// (Action) when, and why (Detail: the reason, or the new scopes).
type Change struct {
	Seq    int64     `json:"seq"`
	Action string    `json:"action"`
	Detail string    `json:"detail"`
	Actor  string    `json:"actor"`
	At     time.Time `json:"at"`
}

// Suspend stops partner id: from the next request on, in every process,
// its signed requests are refused with EPartnerSuspended and nothing of
// them is recorded. reason (required) and actor are kept on the partner
// and in its trail. Errors: EInvalid (reason or actor), ENotFound,
// EConflict (already suspended).
func (s *Service) Suspend(ctx context.Context, id, reason, actor string) (*Partner, error) {
	return s.setStatus(ctx, id, StatusActive, StatusSuspended, ActionSuspend, reason, true, actor)
}

// Reinstate makes a suspended partner active again, at once in every
// process. reason may be empty. Errors: EInvalid, ENotFound, EConflict
// (not suspended).
func (s *Service) Reinstate(ctx context.Context, id, reason, actor string) (*Partner, error) {
	return s.setStatus(ctx, id, StatusSuspended, StatusActive, ActionReinstate, reason, false, actor)
}

func (s *Service) setStatus(ctx context.Context, id, from, to, action, reason string, needReason bool, actor string) (*Partner, error) {
	reason, err := checkText("reason", reason, MaxReasonLen, needReason)
	if err != nil {
		return nil, err
	}
	if actor, err = checkText("actor", actor, 100, true); err != nil {
		return nil, err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE partners SET status = $2, status_reason = $3, status_by = $4, status_at = $5 WHERE id = $1 AND status = $6`,
			id, to, reason, actor, store.Micros(tx.Now), from)
		if err != nil {
			return fmt.Errorf("%s partner: %w", action, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("%s partner: %w", action, err)
		} else if n == 0 {
			var status string
			err := tx.QueryRowContext(ctx, `SELECT status FROM partners WHERE id = $1`, id).Scan(&status)
			if errors.Is(err, sql.ErrNoRows) {
				return oc.Errorf(oc.ENotFound, "partner %q is not registered", id)
			}
			if err != nil {
				return fmt.Errorf("%s partner: %w", action, err)
			}
			return oc.Errorf(oc.EConflict, "partner %q is %s, not %s", id, status, from)
		}
		return recordTx(ctx, tx, id, action, reason, actor)
	})
	s.forget(id)
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// SetScopes replaces the scopes of partner id; the next request it signs
// is checked against them (in another process, within CacheTTL). Errors:
// EInvalid (empty list, unknown scope, actor), ENotFound.
func (s *Service) SetScopes(ctx context.Context, id string, scopes []string, actor string) (*Partner, error) {
	scopes, err := checkScopes(scopes)
	if err != nil {
		return nil, err
	}
	if actor, err = checkText("actor", actor, 100, true); err != nil {
		return nil, err
	}
	joined := strings.Join(scopes, " ")
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE partners SET scopes = $2 WHERE id = $1`, id, joined)
		if err != nil {
			return fmt.Errorf("set partner scopes: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("set partner scopes: %w", err)
		} else if n == 0 {
			return oc.Errorf(oc.ENotFound, "partner %q is not registered", id)
		}
		return recordTx(ctx, tx, id, ActionScopes, joined, actor)
	})
	s.forget(id)
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// Changes returns partner id's admin trail, oldest first. Errors: ENotFound.
func (s *Service) Changes(ctx context.Context, id string) ([]Change, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT seq, action, detail, actor, at FROM partner_changes WHERE partner = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("partner changes: %w", err)
	}
	defer rows.Close()
	out := []Change{}
	for rows.Next() {
		var c Change
		var at int64
		if err := rows.Scan(&c.Seq, &c.Action, &c.Detail, &c.Actor, &at); err != nil {
			return nil, fmt.Errorf("partner changes: %w", err)
		}
		c.At = store.Time(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("partner changes: %w", err)
	}
	return out, nil
}

// recordTx appends to partner id's trail; the caller has updated the
// partner row in tx, which serialises concurrent appends.
func recordTx(ctx context.Context, tx *store.Tx, id, action, detail, actor string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO partner_changes (partner, seq, action, detail, actor, at)
		SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5 FROM partner_changes WHERE partner = $1`,
		id, action, detail, actor, store.Micros(tx.Now))
	if err != nil {
		return fmt.Errorf("record partner change: %w", err)
	}
	return nil
}

// checkText trims v and refuses it unless it is at most max printable
// characters (newlines and tabs allowed), and not empty when required.
func checkText(what, v string, max int, required bool) (string, error) {
	v = strings.TrimSpace(v)
	bad := !utf8.ValidString(v) || utf8.RuneCountInString(v) > max ||
		strings.ContainsFunc(v, func(r rune) bool { return r != '\n' && r != '\t' && isControl(r) })
	if bad || (required && v == "") {
		if required {
			return "", oc.Errorf(oc.EInvalid, "%s is required: 1 to %d printable characters", what, max)
		}
		return "", oc.Errorf(oc.EInvalid, "%s must be at most %d printable characters", what, max)
	}
	return v, nil
}
