package reward

import (
	"context"
	"fmt"
	"strconv"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/webhook"
)

// Redeem spends person's points on discount or mall offer offerID and
// returns the voucher. key is the person's idempotency key: a request with
// a key already used returns the voucher it gave (Replayed), whatever
// happened since. Errors: ENoConsent, EPartnerNotLinked (mall of a partner
// the person has not linked), EInvalid (bad key, or a donation offer: use
// Donate), ENotFound, EOfferExpired (outside its window), EOutOfStock,
// ELimitReached, EInsufficientPoints, EConflict (key used for another
// offer). On any error nothing changed.
func (s *Service) Redeem(ctx context.Context, person string, offerID int64, key string) (*Voucher, error) {
	return s.take(ctx, person, offerID, key, false)
}

// Donate spends person's points on donation program offerID and returns
// the red envelope (a Voucher of kind donation, status paid, AmountFen from
// the program's budget). Errors as Redeem, plus EBudgetExhausted (the
// budget cannot pay one more envelope; no points are taken), and EInvalid
// for an offer that is not a donation.
func (s *Service) Donate(ctx context.Context, person string, offerID int64, key string) (*Voucher, error) {
	return s.take(ctx, person, offerID, key, true)
}

// offerTx reads offer id in tx, without locking it.
func offerTx(ctx context.Context, tx *store.Tx, id int64) (*Offer, error) {
	o, err := scanOffer(tx.QueryRowContext(ctx, `SELECT `+offerColumns+` FROM reward_offers WHERE id = $1`, id))
	if isNoRows(err) {
		return nil, notFound("offer %d does not exist", id)
	}
	if err != nil {
		return nil, fmt.Errorf("offer: %w", err)
	}
	return o, nil
}

// checkLimit refuses when account holds the per-person limit of o in
// vouchers that are not cancelled.
func checkLimit(ctx context.Context, tx *store.Tx, o *Offer, acct int64) error {
	if o.PerPerson == 0 {
		return nil
	}
	var n int64
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM reward_vouchers WHERE offer_id = $1 AND account_id = $2 AND status <> $3`,
		o.ID, acct, StatusCancelled).Scan(&n)
	if err != nil {
		return fmt.Errorf("redeem limit: %w", err)
	}
	if n >= o.PerPerson {
		return oc.Errorf(oc.ELimitReached, "offer %d allows %d per person", o.ID, o.PerPerson)
	}
	return nil
}

func (s *Service) take(ctx context.Context, person string, offerID int64, key string, donation bool) (*Voucher, error) {
	if !keyPattern.MatchString(key) {
		return nil, oc.Errorf(oc.EInvalid, "idempotency_key must match %s", keyPattern)
	}
	acct, err := s.accounts.AccountID(ctx, person)
	if err != nil {
		return nil, err
	}
	var v *Voucher
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		// Cheap refusals first, on the offer as it stands (unlocked).
		o, err := offerTx(ctx, tx, offerID)
		if err != nil {
			return err
		}
		if v, err = voucherByKeyTx(ctx, tx, acct, key); err != nil || v != nil {
			return err
		}
		if (o.Kind == KindDonation) != donation {
			if donation {
				return oc.Errorf(oc.EInvalid, "offer %d is a %s, not a donation program: POST /v1/me/redemptions", o.ID, o.Kind)
			}
			return oc.Errorf(oc.EInvalid, "offer %d is a donation program: POST /v1/me/donations", o.ID)
		}
		if err := checkTakeable(o, tx); err != nil {
			return err
		}
		if err := checkLimit(ctx, tx, o, acct); err != nil {
			return err
		}
		var sub int64
		if o.Kind == KindMall {
			var a int64
			if a, sub, err = account.ResolveTx(ctx, tx, person, o.Partner); err != nil {
				return err
			}
			if a != acct {
				return oc.Errorf(oc.ENoConsent, "account changed while redeeming")
			}
		}
		// The spend locks the person's parent balance row until commit
		// (ledger: PostgreSQL FOR UPDATE; SQLite has one writer), so from
		// here on this person's redemptions run one at a time: the key
		// and the per-person limit are checked again under that lock.
		ref := "reward:" + strconv.FormatInt(acct, 10) + ":" + key
		if _, err := ledger.SpendTx(ctx, tx, ledger.Spend{Parent: acct, Sub: sub, Points: o.Points, Ref: ref, Kind: o.Kind}); err != nil {
			return err
		}
		if v, err = voucherByKeyTx(ctx, tx, acct, key); err != nil || v != nil {
			return err // a racing retry of this key won; the spend above was its own, replayed
		}
		if err := checkLimit(ctx, tx, o, acct); err != nil {
			return err
		}
		// Stock and budget last: the offer row is locked by this
		// conditional update only until commit, a few statements later,
		// so a hot offer is not held while the ledger works.
		res, err := tx.ExecContext(ctx, `UPDATE reward_offers SET stock = CASE WHEN stock IS NULL THEN NULL ELSE stock - 1 END,
			budget_fen = budget_fen - amount_fen, issued = issued + 1
			WHERE id = $1 AND (stock IS NULL OR stock > 0) AND budget_fen >= amount_fen AND valid_until > $2`, o.ID, store.Micros(tx.Now))
		if err != nil {
			return fmt.Errorf("redeem stock: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			// Sold out (or budget spent) by a concurrent redemption: say
			// which, and roll the spend back with everything else.
			if now, err := offerTx(ctx, tx, offerID); err == nil {
				if err := checkTakeable(now, tx); err != nil {
					return err
				}
			}
			return oc.Errorf(oc.EOutOfStock, "offer %d is out of stock", o.ID)
		}
		v = &Voucher{Code: newCode(), OfferID: o.ID, Kind: o.Kind, Title: o.Title, Project: o.Project, Merchant: o.Merchant,
			Partner: o.Partner, Points: o.Points, AmountFen: o.AmountFen, Status: StatusIssued, ValidUntil: o.ValidUntil, IssuedAt: tx.Now, account: acct}
		if donation {
			v.Status = StatusPaid
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO reward_vouchers (code, offer_id, account_id, sub_id, idem_key, points, amount_fen, spend_ref, status, valid_until, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			v.Code, o.ID, acct, sub, key, o.Points, o.AmountFen, ref, v.Status, store.Micros(o.ValidUntil), store.Micros(tx.Now))
		if err != nil {
			return fmt.Errorf("issue voucher: %w", err)
		}
		return webhook.EnqueueTx(ctx, tx, webhook.TopicVoucherIssued, o.Partner, acct, voucherBody(v, acct))
	})
	if store.IsUniqueViolation(err) {
		// The same key raced on another offer (or a code collided): the
		// transaction is gone; answer with what the key gave, if anything.
		if v, err := s.voucherByKey(ctx, acct, key); err != nil || v != nil {
			return s.replay(v, offerID, err)
		}
		return nil, fmt.Errorf("redeem: %w", err)
	}
	if err != nil {
		return nil, err
	}
	return s.replay(v, offerID, nil)
}

// replay checks that a voucher found by its key belongs to offerID.
func (s *Service) replay(v *Voucher, offerID int64, err error) (*Voucher, error) {
	if err != nil {
		return nil, err
	}
	if v.Replayed && v.OfferID != offerID {
		return nil, oc.Errorf(oc.EConflict, "idempotency key was used for offer %d", v.OfferID)
	}
	return v, nil
}

// checkTakeable refuses an offer outside its window, out of stock, or
// whose budget cannot pay one more red envelope.
func checkTakeable(o *Offer, tx *store.Tx) error {
	switch {
	case tx.Now.Before(o.ValidFrom):
		return oc.Errorf(oc.EOfferExpired, "offer %d opens at %s", o.ID, o.ValidFrom.Format("2006-01-02T15:04:05Z07:00"))
	case !tx.Now.Before(o.ValidUntil):
		return oc.Errorf(oc.EOfferExpired, "offer %d ended at %s", o.ID, o.ValidUntil.Format("2006-01-02T15:04:05Z07:00"))
	case o.BudgetExhausted:
		return oc.Errorf(oc.EBudgetExhausted, "donation program %d has no budget left for a red envelope", o.ID)
	case o.Stock != nil && *o.Stock <= 0:
		return oc.Errorf(oc.EOutOfStock, "offer %d is out of stock", o.ID)
	}
	return nil
}

// Cancel cancels person's unused voucher code: the points come back
// (ledger.RefundTx) and the stock is restored. Cancelling a cancelled
// voucher returns it unchanged. Errors: ENoConsent, ENotFound (no such
// voucher of this person), EVoucherUsed, EConflict (a donation's red
// envelope is final).
func (s *Service) Cancel(ctx context.Context, person, code string) (*Voucher, error) {
	acct, err := s.accounts.AccountID(ctx, person)
	if err != nil {
		return nil, err
	}
	if !validCode(code) {
		return nil, notFound("no voucher %q", code)
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		q := `SELECT v.offer_id, v.status, v.spend_ref FROM reward_vouchers v WHERE v.code = $1 AND v.account_id = $2`
		if tx.Dialect == store.Postgres {
			q += ` FOR UPDATE`
		}
		var offerID int64
		var status, ref string
		err := tx.QueryRowContext(ctx, q, code, acct).Scan(&offerID, &status, &ref)
		if isNoRows(err) {
			return notFound("no voucher %q", code)
		}
		if err != nil {
			return fmt.Errorf("cancel voucher: %w", err)
		}
		switch status {
		case StatusCancelled:
			return nil
		case StatusUsed:
			return oc.Errorf(oc.EVoucherUsed, "voucher %s was used and cannot be cancelled", code)
		case StatusPaid:
			return oc.Errorf(oc.EConflict, "a donation is final and cannot be cancelled")
		}
		// Same lock order as a redemption: ledger (parent row) first,
		// then the offer row.
		if _, err := ledger.RefundTx(ctx, tx, ref, "reward-refund:"+code); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE reward_vouchers SET status = $2, cancelled_at = $3 WHERE code = $1`,
			code, StatusCancelled, store.Micros(tx.Now)); err != nil {
			return fmt.Errorf("cancel voucher: %w", err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE reward_offers SET stock = CASE WHEN stock IS NULL THEN NULL ELSE stock + 1 END, issued = issued - 1 WHERE id = $1`, offerID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.voucher(ctx, `v.code = $1 AND v.account_id = $2`, code, acct)
}
