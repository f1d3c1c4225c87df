package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

// ResolveTx returns the parent account and sub-account that a credit from
// partner for person goes to, inside the caller's write transaction. It is
// the consent gate of the intake's hot path. Errors: ENoConsent (no open
// account, or erased), EPartnerNotLinked (partner never linked, or
// revoked).
//
// On PostgreSQL the sub-account row is locked FOR SHARE until tx ends, so a
// Revoke or Erase waits for credits already past the gate and every credit
// whose transaction starts after Revoke returns is refused. On SQLite the
// single writer gives the same order.
func ResolveTx(ctx context.Context, tx *store.Tx, person, partnerID string) (accountID, subID int64, err error) {
	q := `SELECT s.account_id, s.id, s.linked FROM accounts a JOIN subaccounts s ON s.account_id = a.id
		WHERE a.person = $1 AND s.partner = $2`
	if tx.Dialect == store.Postgres {
		q += ` FOR SHARE OF s`
	}
	var linked int
	err = tx.QueryRowContext(ctx, q, person, partnerID).Scan(&accountID, &subID, &linked)
	if err == nil && linked == 1 {
		return accountID, subID, nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("resolve account: %w", err)
	}
	if err == nil {
		return 0, 0, notLinked(partnerID)
	}
	var id int64
	err = tx.QueryRowContext(ctx, `SELECT id FROM accounts WHERE person = $1`, person).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, noConsent()
	}
	if err != nil {
		return 0, 0, fmt.Errorf("resolve account: %w", err)
	}
	return 0, 0, notLinked(partnerID)
}

// Resolve is ResolveTx for reads outside a write transaction (no lock).
func (s *Service) Resolve(ctx context.Context, person, partnerID string) (accountID, subID int64, err error) {
	var linked int
	err = s.db.Read().QueryRowContext(ctx, `SELECT s.account_id, s.id, s.linked FROM accounts a JOIN subaccounts s ON s.account_id = a.id
		WHERE a.person = $1 AND s.partner = $2`, person, partnerID).Scan(&accountID, &subID, &linked)
	switch {
	case err == nil && linked == 1:
		return accountID, subID, nil
	case err == nil:
		return 0, 0, notLinked(partnerID)
	case !errors.Is(err, sql.ErrNoRows):
		return 0, 0, fmt.Errorf("resolve account: %w", err)
	}
	if _, err := s.AccountID(ctx, person); err != nil {
		return 0, 0, err
	}
	return 0, 0, notLinked(partnerID)
}

// AccountID returns the id of person's parent account. Errors: ENoConsent.
func (s *Service) AccountID(ctx context.Context, person string) (int64, error) {
	var id int64
	err := s.db.ReadQueryRow(ctx, `SELECT id FROM accounts WHERE person = $1`, person).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, noConsent()
	}
	if err != nil {
		return 0, fmt.Errorf("find account: %w", err)
	}
	return id, nil
}

// PersonOf returns the person who holds parent account accountID, e.g. to
// show a leaderboard entry or address a webhook. Errors: ENotFound (no such
// account), EAccountErased (the person erased their data; only the
// tombstone remains).
func (s *Service) PersonOf(ctx context.Context, accountID int64) (string, error) {
	var person sql.NullString
	err := s.db.ReadQueryRow(ctx, `SELECT person FROM accounts WHERE id = $1`, accountID).Scan(&person)
	if errors.Is(err, sql.ErrNoRows) {
		return "", oc.Errorf(oc.ENotFound, "account %d does not exist", accountID)
	}
	if err != nil {
		return "", fmt.Errorf("person of account: %w", err)
	}
	if !person.Valid {
		return "", oc.Errorf(oc.EAccountErased, "account %d was erased", accountID)
	}
	return person.String, nil
}

func notLinked(partnerID string) error {
	return oc.Errorf(oc.EPartnerNotLinked, "partner %q is not linked to this account (PUT /v1/me/partners/%s)", partnerID, partnerID)
}

// PartnerOfSub returns the partner of sub-account sub (oc.ENotFound if there
// is no such sub-account). Revoked sub-accounts still name their partner.
func (s *Service) PartnerOfSub(ctx context.Context, sub int64) (string, error) {
	var p string
	err := s.db.ReadQueryRow(ctx, `SELECT partner FROM subaccounts WHERE id = $1`, sub).Scan(&p)
	if errors.Is(err, sql.ErrNoRows) {
		return "", oc.Errorf(oc.ENotFound, "sub-account %d does not exist", sub)
	}
	if err != nil {
		return "", fmt.Errorf("partner of sub-account: %w", err)
	}
	return p, nil
}
