package reward

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/webhook"
)

const voucherColumns = `v.code, v.offer_id, o.kind, o.title, o.project, o.merchant, o.partner, v.points, v.amount_fen, v.status,
	v.valid_until, v.created_at, v.used_at, v.cancelled_at, v.account_id`

const voucherFrom = ` FROM reward_vouchers v JOIN reward_offers o ON o.id = v.offer_id`

func scanVoucher(r interface{ Scan(...any) error }) (*Voucher, error) {
	var v Voucher
	var until, created int64
	var used, cancelled sql.NullInt64
	err := r.Scan(&v.Code, &v.OfferID, &v.Kind, &v.Title, &v.Project, &v.Merchant, &v.Partner, &v.Points, &v.AmountFen, &v.Status,
		&until, &created, &used, &cancelled, &v.account)
	if err != nil {
		return nil, err
	}
	v.ValidUntil, v.IssuedAt = store.Time(until), store.Time(created)
	if used.Valid {
		t := store.Time(used.Int64)
		v.UsedAt = &t
	}
	if cancelled.Valid {
		t := store.Time(cancelled.Int64)
		v.CancelAt = &t
	}
	return &v, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// voucherWhere returns the voucher matching where, or ENotFound.
func voucherWhere(ctx context.Context, q querier, where string, args ...any) (*Voucher, error) {
	v, err := scanVoucher(q.QueryRowContext(ctx, `SELECT `+voucherColumns+voucherFrom+` WHERE `+where, args...))
	if isNoRows(err) {
		return nil, notFound("no such voucher")
	}
	if err != nil {
		return nil, fmt.Errorf("voucher: %w", err)
	}
	return v, nil
}

func (s *Service) voucher(ctx context.Context, where string, args ...any) (*Voucher, error) {
	return voucherWhere(ctx, s.db.Read(), where, args...)
}

// voucherByKeyTx returns the voucher that account's key gave, or nil.
func voucherByKeyTx(ctx context.Context, tx *store.Tx, acct int64, key string) (*Voucher, error) {
	v, err := voucherWhere(ctx, tx, `v.account_id = $1 AND v.idem_key = $2`, acct, key)
	if oc.ErrorCode(err) == oc.ENotFound {
		return nil, nil
	}
	if v != nil {
		v.Replayed = true
	}
	return v, err
}

// voucherByKey is voucherByKeyTx outside a transaction.
func (s *Service) voucherByKey(ctx context.Context, acct int64, key string) (*Voucher, error) {
	v, err := s.voucher(ctx, `v.account_id = $1 AND v.idem_key = $2`, acct, key)
	if oc.ErrorCode(err) == oc.ENotFound {
		return nil, nil
	}
	if v != nil {
		v.Replayed = true
	}
	return v, err
}

// Vouchers returns person's vouchers and red envelopes, newest first, at
// most limit (1..1000) older than code before ("" from the newest).
// Errors: ENoConsent.
func (s *Service) Vouchers(ctx context.Context, person, before string, limit int) ([]*Voucher, error) {
	acct, err := s.accounts.AccountID(ctx, person)
	if err != nil {
		return nil, err
	}
	var beforeID int64
	if before != "" {
		err := s.db.Read().QueryRowContext(ctx, `SELECT id FROM reward_vouchers WHERE code = $1 AND account_id = $2`, before, acct).Scan(&beforeID)
		if isNoRows(err) {
			return nil, oc.Errorf(oc.EInvalid, "cursor %q is not one of your vouchers", before)
		}
		if err != nil {
			return nil, fmt.Errorf("vouchers: %w", err)
		}
	}
	return s.vouchersOf(ctx, acct, beforeID, limit)
}

func (s *Service) vouchersOf(ctx context.Context, acct, beforeID int64, limit int) ([]*Voucher, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+voucherColumns+voucherFrom+` WHERE v.account_id = $1 AND v.id < $2 ORDER BY v.id DESC LIMIT $3`,
		acct, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("vouchers: %w", err)
	}
	defer rows.Close()
	out := []*Voucher{}
	for rows.Next() {
		v, err := scanVoucher(rows)
		if err != nil {
			return nil, fmt.Errorf("vouchers: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// CheckVoucher returns voucher code for partnerID, the partner of its mall
// or merchant, so the merchant can check it at the till. Errors: ENotFound
// (no such voucher, or not this partner's: the two are not told apart).
func (s *Service) CheckVoucher(ctx context.Context, partnerID, code string) (*Voucher, error) {
	if !validCode(code) || partnerID == "" {
		return nil, notFound("no voucher %q", code)
	}
	v, err := s.voucher(ctx, `v.code = $1 AND o.partner = $2`, code, partnerID)
	if oc.ErrorCode(err) == oc.ENotFound {
		return nil, notFound("no voucher %q", code)
	}
	return v, err
}

// UseVoucher marks voucher code used, once, for partnerID (see
// CheckVoucher), and announces voucher.redeemed to the partner. Errors:
// ENotFound, EVoucherUsed (already used), EConflict (cancelled),
// EOfferExpired (past its validity).
func (s *Service) UseVoucher(ctx context.Context, partnerID, code string) (*Voucher, error) {
	if !validCode(code) || partnerID == "" {
		return nil, notFound("no voucher %q", code)
	}
	var v *Voucher
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		// The conditional update is the once-only guard on both dialects.
		res, err := tx.ExecContext(ctx, `UPDATE reward_vouchers SET status = $3, used_at = $4
			WHERE code = $1 AND status = $2 AND valid_until > $4
			AND offer_id IN (SELECT id FROM reward_offers WHERE partner = $5)`,
			code, StatusIssued, StatusUsed, store.Micros(tx.Now), partnerID)
		if err != nil {
			return fmt.Errorf("use voucher: %w", err)
		}
		n, _ := res.RowsAffected()
		v, err = voucherWhere(ctx, tx, `v.code = $1 AND o.partner = $2`, code, partnerID)
		if oc.ErrorCode(err) == oc.ENotFound {
			return notFound("no voucher %q", code)
		}
		if err != nil {
			return err
		}
		if n == 1 {
			return webhook.EnqueueTx(ctx, tx, webhook.TopicVoucherRedeemed, partnerID, v.account, voucherBody(v, v.account))
		}
		switch v.Status {
		case StatusUsed:
			return oc.Errorf(oc.EVoucherUsed, "voucher %s was already used at %s", code, v.UsedAt.Format(time.RFC3339))
		case StatusCancelled:
			return oc.Errorf(oc.EConflict, "voucher %s was cancelled", code)
		}
		return oc.Errorf(oc.EOfferExpired, "voucher %s expired at %s", code, v.ValidUntil.Format(time.RFC3339))
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// VoucherBody is the body of voucher.issued and voucher.redeemed messages.
// It names the account by id only, never the person.
type VoucherBody struct {
	Code       string     `json:"code"`
	OfferID    int64      `json:"offer_id"`
	Kind       string     `json:"kind"`
	Merchant   string     `json:"merchant,omitempty"`
	Account    int64      `json:"account"`
	Points     int64      `json:"points"`
	AmountFen  int64      `json:"amount_fen,omitempty"`
	Status     string     `json:"status"`
	ValidUntil time.Time  `json:"valid_until"`
	IssuedAt   time.Time  `json:"issued_at"`
	UsedAt     *time.Time `json:"used_at,omitempty"`
}

func voucherBody(v *Voucher, acct int64) VoucherBody {
	return VoucherBody{Code: v.Code, OfferID: v.OfferID, Kind: v.Kind, Merchant: v.Merchant, Account: acct, Points: v.Points,
		AmountFen: v.AmountFen, Status: v.Status, ValidUntil: v.ValidUntil, IssuedAt: v.IssuedAt, UsedAt: v.UsedAt}
}
