package ledger

import (
	"context"
	"time"
)

// ExpiringWindow is how far ahead GET /v1/me/account lists expiring lots.
const ExpiringWindow = 30 * 24 * time.Hour

// BalanceExtra is an account-response extra (web.Server.AccountExtras):
// the key "balance" with the parent's rollup and per-sub-account balances.
func (s *Service) BalanceExtra(ctx context.Context, accountID int64) (string, any, error) {
	b, err := s.Balance(ctx, accountID)
	return "balance", b, err
}

// ExpiringExtra is an account-response extra: the key "expiring" with the
// point lots that expire within ExpiringWindow, soonest first.
func (s *Service) ExpiringExtra(ctx context.Context, accountID int64) (string, any, error) {
	lots, err := s.Expiring(ctx, accountID, ExpiringWindow)
	return "expiring", lots, err
}
