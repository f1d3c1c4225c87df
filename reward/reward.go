// Package reward is where points are spent: the catalog of offers
// (donation programs that pay a cash red envelope from a funded budget,
// low-carbon merchant discounts, and each partner's own sub-account mall),
// redemption and donation, and the vouchers they give.
//
// A redemption is one transaction: the offer's window, stock, budget and
// the person's limit are checked, the points are debited through the
// ledger (ledger.SpendTx, which locks the person's balance row, so one
// person's redemptions are serialised and the limit and idempotency key
// are re-checked under that lock), stock or budget is decremented by a
// conditional UPDATE that can never go below zero, the voucher is written
// with a random unguessable code and the voucher.issued message is put in
// the outbox — or nothing at all happens. Locks are always taken in the
// order person (ledger) → offer, and the offer row is held only for the
// last few statements, so a hot offer is not serialised behind the ledger. Platform offers
// (donations, discounts) spend from the parent total; a mall offer spends
// only the points of its partner's sub-account.
//
// The package must never change a balance except through the ledger, never
// sell more than the stock or pay more than the budget, never issue two
// vouchers for one idempotency key, and never show a person's identity to a
// partner: vouchers and webhooks carry account ids and codes only.
package reward

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/base32"
	"errors"
	"regexp"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the reward schema. It refers to no other component's
// tables; account ids come from package account.
var Migrations = store.Component{Name: "reward", FS: migrations, Dir: "migrations"}

// Offer kinds.
const (
	KindDonation = "donation" // points → a cash red envelope paid from the offer's budget
	KindDiscount = "discount" // a merchant's low-carbon discount; spends the parent total
	KindMall     = "mall"     // a partner's own item; spends only that partner's sub-account
)

// Voucher states.
const (
	StatusIssued    = "issued"    // valid, not used yet; may be cancelled for a refund
	StatusUsed      = "used"      // marked used by the merchant or partner
	StatusCancelled = "cancelled" // cancelled by the person; points refunded
	StatusPaid      = "paid"      // a donation's red envelope: final
)

// Offer is one thing points can be spent on.
type Offer struct {
	ID          int64     `json:"id"`
	Kind        string    `json:"kind"`
	Title       string    `json:"title"`
	Description string    `json:"description,omitempty"`
	Project     string    `json:"project,omitempty"`  // donation: the public-benefit project
	Merchant    string    `json:"merchant,omitempty"` // discount: the merchant id
	Partner     string    `json:"partner,omitempty"`  // mall owner, or the merchant's partner
	Points      int64     `json:"points"`
	Stock       *int64    `json:"stock"` // nil: unlimited
	PerPerson   int64     `json:"per_person_limit"`
	AmountFen   int64     `json:"amount_fen,omitempty"` // donation: red envelope per donation
	BudgetFen   int64     `json:"budget_fen,omitempty"` // donation: what is left to pay
	Issued      int64     `json:"issued"`               // vouchers issued and not cancelled
	ValidFrom   time.Time `json:"valid_from"`
	ValidUntil  time.Time `json:"valid_until"`
	CreatedBy   string    `json:"created_by"` // "admin" or "partner:<id>"
	CreatedAt   time.Time `json:"created_at"`
	// Computed when read.
	Spends          string `json:"spends"` // "parent", or "sub:<partner>" for a mall offer
	BudgetExhausted bool   `json:"budget_exhausted,omitempty"`
}

// Voucher is what a redemption or donation gave: a merchant voucher, a mall
// item voucher or a red envelope.
type Voucher struct {
	Code       string     `json:"code"`
	OfferID    int64      `json:"offer_id"`
	Kind       string     `json:"kind"`
	Title      string     `json:"title"`
	Project    string     `json:"project,omitempty"`
	Merchant   string     `json:"merchant,omitempty"`
	Partner    string     `json:"partner,omitempty"`
	Points     int64      `json:"points"`
	AmountFen  int64      `json:"amount_fen,omitempty"`
	Status     string     `json:"status"`
	ValidUntil time.Time  `json:"valid_until"`
	IssuedAt   time.Time  `json:"issued_at"`
	UsedAt     *time.Time `json:"used_at,omitempty"`
	CancelAt   *time.Time `json:"cancelled_at,omitempty"`
	// Replayed is true when an earlier request with the same idempotency
	// key gave this voucher.
	Replayed bool `json:"replayed,omitempty"`

	account int64
}

// Service is the reward catalog and redemption. It is safe for concurrent
// use; several processes may share one database.
type Service struct {
	db       *store.DB
	accounts *account.Service
}

// NewService returns the reward service over db.
func NewService(db *store.DB, accounts *account.Service) *Service {
	return &Service{db: db, accounts: accounts}
}

// Register adds the "vouchers" section to account exports and an eraser
// that drops the person's idempotency keys (the only client-chosen text
// held); codes, amounts and offers stay so totals still add up.
func (s *Service) Register(a *account.Service) {
	a.AddExporter("vouchers", func(ctx context.Context, accountID int64) (any, error) {
		return s.vouchersOf(ctx, accountID, 0, 1000)
	})
	a.AddEraser(func(ctx context.Context, tx *store.Tx, accountID int64) error {
		_, err := tx.ExecContext(ctx, `UPDATE reward_vouchers SET idem_key = 'erased:' || code WHERE account_id = $1`, accountID)
		return err
	})
}

// keyPattern is what an idempotency key must look like.
var keyPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// codeEncoding spells voucher codes: 15 random bytes → 24 characters of
// A–Z and 2–7 (120 bits), easy to read out at a till.
var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func newCode() string {
	var b [15]byte
	rand.Read(b[:])
	return codeEncoding.EncodeToString(b[:])
}

// validCode reports whether c could be a voucher code (checked before any
// lookup, so junk never reaches the database).
func validCode(c string) bool {
	if len(c) != 24 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if !(c[i] >= 'A' && c[i] <= 'Z' || c[i] >= '2' && c[i] <= '7') {
			return false
		}
	}
	return true
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func notFound(what string, args ...any) error { return oc.Errorf(oc.ENotFound, what, args...) }
