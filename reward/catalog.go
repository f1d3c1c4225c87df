package reward

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
)

// Merchant is a shop that lists low-carbon discounts.
type Merchant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Partner   string    `json:"partner,omitempty"` // the partner that operates it over the signed API
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// merchantPattern is what a merchant id must look like.
var merchantPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{1,63}$`)

// Limits of offer fields.
const (
	MaxPoints    = 1_000_000_000
	MaxStock     = 1_000_000_000
	MaxPerPerson = 1_000_000
	MaxAmountFen = 100_000_000       // ¥1,000,000 per red envelope
	MaxBudgetFen = 1_000_000_000_000 // ¥10,000,000,000 in a budget
	// DefaultValidity is an offer's window when valid_until is not given.
	DefaultValidity = 365 * 24 * time.Hour
)

// actor names who creates something: the operator ("admin") or a partner.
func actor(partnerID string) string {
	if partnerID == "" {
		return "admin"
	}
	return "partner:" + partnerID
}

// CreateMerchant registers m. byPartner is the partner making the call ("" for
// the operator): a partner registers merchants it operates itself, so
// m.Partner is set to it; the operator may name any registered partner or
// none. Errors: EInvalid (bad id, name or partner), EConflict (id taken).
func (s *Service) CreateMerchant(ctx context.Context, byPartner string, m Merchant) (*Merchant, error) {
	if byPartner != "" {
		if m.Partner != "" && m.Partner != byPartner {
			return nil, oc.Errorf(oc.EForbidden, "a partner registers merchants for itself only")
		}
		m.Partner = byPartner
	}
	if !merchantPattern.MatchString(m.ID) {
		return nil, oc.Errorf(oc.EInvalid, "merchant id must match %s", merchantPattern)
	}
	if err := checkText("name", &m.Name, 1, 100); err != nil {
		return nil, err
	}
	m.CreatedBy = actor(byPartner)
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if m.Partner != "" {
			ok, err := partner.ExistsTx(ctx, tx, m.Partner)
			if err != nil {
				return err
			}
			if !ok {
				return oc.Errorf(oc.EInvalid, "partner %q is not registered", m.Partner)
			}
		}
		m.CreatedAt = tx.Now
		_, err := tx.ExecContext(ctx, `INSERT INTO reward_merchants (id, name, partner, created_by, created_at) VALUES ($1, $2, $3, $4, $5)`,
			m.ID, m.Name, m.Partner, m.CreatedBy, store.Micros(tx.Now))
		if store.IsUniqueViolation(err) {
			return oc.Errorf(oc.EConflict, "merchant %q already exists", m.ID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// OfferInput is what an operator or partner supplies to list an offer.
type OfferInput struct {
	Kind        string
	Title       string
	Description string
	Project     string    // donation: the public-benefit project (required)
	Merchant    string    // discount: the merchant (required)
	Partner     string    // mall: the partner whose sub-account is spent (required)
	Points      int64     // price, 1..MaxPoints
	Stock       *int64    // nil: unlimited
	PerPerson   int64     // 0: no limit
	AmountFen   int64     // donation: red envelope paid per donation (required)
	BudgetFen   int64     // donation: initial budget
	ValidFrom   time.Time // zero: now
	ValidUntil  time.Time // zero: ValidFrom + DefaultValidity
}

// CreateOffer lists in. byPartner is the partner making the call ("" for
// the operator). The operator may list any kind; a partner lists mall items
// of its own sub-account and discounts of merchants it operates, never
// donations. Errors: EInvalid, EForbidden (a partner acting for another).
func (s *Service) CreateOffer(ctx context.Context, byPartner string, in OfferInput) (*Offer, error) {
	var id int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		id, err = s.createOfferTx(ctx, tx, byPartner, in, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Offer(ctx, id)
}

// createOfferTx checks and inserts in. With a seedKey the insert is skipped
// when an offer of that key exists, and its id is returned.
func (s *Service) createOfferTx(ctx context.Context, tx *store.Tx, byPartner string, in OfferInput, seedKey string) (int64, error) {
	if err := s.checkOfferTx(ctx, tx, byPartner, &in); err != nil {
		return 0, err
	}
	if in.ValidFrom.IsZero() {
		in.ValidFrom = tx.Now
	}
	if in.ValidUntil.IsZero() {
		in.ValidUntil = in.ValidFrom.Add(DefaultValidity)
	}
	if !in.ValidUntil.After(in.ValidFrom) {
		return 0, oc.Errorf(oc.EInvalid, "valid_until must be after valid_from")
	}
	var seed any
	if seedKey != "" {
		seed = seedKey
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM reward_offers WHERE seed_key = $1`, seedKey).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !isNoRows(err) {
			return 0, fmt.Errorf("seed offer: %w", err)
		}
	}
	var stock any
	if in.Stock != nil {
		stock = *in.Stock
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO reward_offers (kind, title, description, project, merchant, partner, points, stock, per_person,
		amount_fen, budget_fen, valid_from, valid_until, created_by, created_at, seed_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id`,
		in.Kind, in.Title, in.Description, in.Project, in.Merchant, in.Partner, in.Points, stock, in.PerPerson,
		in.AmountFen, in.BudgetFen, store.Micros(in.ValidFrom), store.Micros(in.ValidUntil), actor(byPartner), store.Micros(tx.Now), seed).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("create offer: %w", err)
	}
	return id, nil
}

// checkOfferTx validates in and fills Partner from the merchant of a
// discount.
func (s *Service) checkOfferTx(ctx context.Context, tx *store.Tx, byPartner string, in *OfferInput) error {
	if err := checkText("title", &in.Title, 1, 100); err != nil {
		return err
	}
	if err := checkText("description", &in.Description, 0, 500); err != nil {
		return err
	}
	if err := checkText("project", &in.Project, 0, 200); err != nil {
		return err
	}
	switch {
	case in.Points < 1 || in.Points > MaxPoints:
		return oc.Errorf(oc.EInvalid, "points must be 1 to %d", MaxPoints)
	case in.Stock != nil && (*in.Stock < 0 || *in.Stock > MaxStock):
		return oc.Errorf(oc.EInvalid, "stock must be 0 to %d, or absent for unlimited", MaxStock)
	case in.PerPerson < 0 || in.PerPerson > MaxPerPerson:
		return oc.Errorf(oc.EInvalid, "per_person_limit must be 0 (no limit) to %d", MaxPerPerson)
	case in.AmountFen < 0 || in.AmountFen > MaxAmountFen:
		return oc.Errorf(oc.EInvalid, "amount_fen must be 0 to %d", MaxAmountFen)
	case in.BudgetFen < 0 || in.BudgetFen > MaxBudgetFen:
		return oc.Errorf(oc.EInvalid, "budget_fen must be 0 to %d", MaxBudgetFen)
	}
	switch in.Kind {
	case KindDonation:
		if byPartner != "" {
			return oc.Errorf(oc.EForbidden, "donation programs are listed by the operator")
		}
		if in.Project == "" || in.AmountFen < 1 || in.Merchant != "" || in.Partner != "" {
			return oc.Errorf(oc.EInvalid, "a donation needs project and amount_fen > 0, and no merchant or partner")
		}
		return nil
	case KindDiscount:
		if in.AmountFen != 0 || in.BudgetFen != 0 || in.Project != "" {
			return oc.Errorf(oc.EInvalid, "amount_fen, budget_fen and project are for donations only")
		}
		var owner string
		err := tx.QueryRowContext(ctx, `SELECT partner FROM reward_merchants WHERE id = $1`, in.Merchant).Scan(&owner)
		if isNoRows(err) {
			return oc.Errorf(oc.EInvalid, "merchant %q is not registered", in.Merchant)
		}
		if err != nil {
			return fmt.Errorf("offer merchant: %w", err)
		}
		if byPartner != "" && owner != byPartner {
			return oc.Errorf(oc.EForbidden, "merchant %q is not operated by partner %q", in.Merchant, byPartner)
		}
		if in.Partner != "" && in.Partner != owner {
			return oc.Errorf(oc.EInvalid, "a discount's partner is its merchant's partner (%q)", owner)
		}
		in.Partner = owner
		return nil
	case KindMall:
		if in.AmountFen != 0 || in.BudgetFen != 0 || in.Project != "" || in.Merchant != "" {
			return oc.Errorf(oc.EInvalid, "a mall item has no amount_fen, budget_fen, project or merchant")
		}
		if byPartner != "" {
			if in.Partner != "" && in.Partner != byPartner {
				return oc.Errorf(oc.EForbidden, "a partner lists items of its own mall only")
			}
			in.Partner = byPartner
		}
		ok, err := partner.ExistsTx(ctx, tx, in.Partner)
		if err != nil {
			return err
		}
		if !ok {
			return oc.Errorf(oc.EInvalid, "a mall item needs a registered partner (got %q)", in.Partner)
		}
		return nil
	}
	return oc.Errorf(oc.EInvalid, "kind must be %s, %s or %s", KindDonation, KindDiscount, KindMall)
}

// checkText trims *v and checks it has min..max printable characters.
func checkText(field string, v *string, min, max int) error {
	*v = strings.TrimSpace(*v)
	n := utf8.RuneCountInString(*v)
	if !utf8.ValidString(*v) || n < min || n > max || strings.ContainsFunc(*v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return oc.Errorf(oc.EInvalid, "%s must be %d to %d printable characters", field, min, max)
	}
	return nil
}

// TopUp adds fen to the budget of donation offer id and returns the offer.
// Errors: ENotFound, EInvalid (not a donation, or fen out of 1..MaxBudgetFen
// or the sum over it).
func (s *Service) TopUp(ctx context.Context, id, fen int64) (*Offer, error) {
	if fen < 1 || fen > MaxBudgetFen {
		return nil, oc.Errorf(oc.EInvalid, "amount_fen must be 1 to %d", MaxBudgetFen)
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var kind string
		var budget int64
		err := tx.QueryRowContext(ctx, `SELECT kind, budget_fen FROM reward_offers WHERE id = $1`, id).Scan(&kind, &budget)
		if isNoRows(err) {
			return notFound("offer %d does not exist", id)
		}
		if err != nil {
			return fmt.Errorf("top up: %w", err)
		}
		if kind != KindDonation {
			return oc.Errorf(oc.EInvalid, "offer %d is a %s, not a donation program", id, kind)
		}
		if budget+fen > MaxBudgetFen {
			return oc.Errorf(oc.EInvalid, "budget would exceed %d fen", MaxBudgetFen)
		}
		_, err = tx.ExecContext(ctx, `UPDATE reward_offers SET budget_fen = budget_fen + $2 WHERE id = $1`, id, fen)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Offer(ctx, id)
}

const offerColumns = `id, kind, title, description, project, merchant, partner, points, stock, per_person, amount_fen, budget_fen, issued,
	valid_from, valid_until, created_by, created_at`

func scanOffer(r interface{ Scan(...any) error }) (*Offer, error) {
	var o Offer
	var stock sql.NullInt64
	var from, until, created int64
	err := r.Scan(&o.ID, &o.Kind, &o.Title, &o.Description, &o.Project, &o.Merchant, &o.Partner, &o.Points, &stock, &o.PerPerson,
		&o.AmountFen, &o.BudgetFen, &o.Issued, &from, &until, &o.CreatedBy, &created)
	if err != nil {
		return nil, err
	}
	if stock.Valid {
		o.Stock = &stock.Int64
	}
	o.ValidFrom, o.ValidUntil, o.CreatedAt = store.Time(from), store.Time(until), store.Time(created)
	o.Spends = "parent"
	if o.Kind == KindMall {
		o.Spends = "sub:" + o.Partner
	}
	o.BudgetExhausted = o.Kind == KindDonation && o.BudgetFen < o.AmountFen
	return &o, nil
}

// Offer returns offer id. Errors: ENotFound.
func (s *Service) Offer(ctx context.Context, id int64) (*Offer, error) {
	o, err := scanOffer(s.db.Read().QueryRowContext(ctx, `SELECT `+offerColumns+` FROM reward_offers WHERE id = $1`, id))
	if isNoRows(err) {
		return nil, notFound("offer %d does not exist", id)
	}
	if err != nil {
		return nil, fmt.Errorf("offer: %w", err)
	}
	return o, nil
}

// OfferFilter selects offers.
type OfferFilter struct {
	// Available keeps what can be taken now: inside its window and in
	// stock. Donation programs whose budget is exhausted stay in the list,
	// marked BudgetExhausted, so people see why they cannot donate.
	Available bool
	Partner   string // only offers of this partner (its mall and merchants)
	Kind      string // only this kind
}

// Offers returns the offers that match f, by id.
func (s *Service) Offers(ctx context.Context, f OfferFilter) ([]*Offer, error) {
	now := store.Micros(s.db.Now())
	q := `SELECT ` + offerColumns + ` FROM reward_offers WHERE ($1 = '' OR partner = $1) AND ($2 = '' OR kind = $2)`
	args := []any{f.Partner, f.Kind}
	if f.Available {
		q += ` AND valid_from <= $3 AND valid_until > $3 AND (stock IS NULL OR stock > 0)`
		args = append(args, now)
	}
	rows, err := s.db.Read().QueryContext(ctx, q+` ORDER BY id LIMIT 1000`, args...)
	if err != nil {
		return nil, fmt.Errorf("offers: %w", err)
	}
	defer rows.Close()
	out := []*Offer{}
	for rows.Next() {
		o, err := scanOffer(rows)
		if err != nil {
			return nil, fmt.Errorf("offers: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}
