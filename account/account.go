// Package account holds people's 1+N carbon accounts: one parent account
// per person who opened it by explicit consent, one sub-account per partner
// the person linked, the append-only record of those consents, and the
// export and erasure of everything held about a person.
//
// Every other package keys its data by the int64 account and sub-account
// ids (ResolveTx, AccountID), never by the person id, so that Erase can
// drop the person mapping and leave a tombstone while ledger totals and
// audit proofs still add up.
//
// It must never store anything about a person who has not opened an
// account (reads such as Get insert nothing), never credit or change a
// balance (that is the ledger's job), and never import the packages that
// plug into export and erasure (they register with AddExporter/AddEraser).
package account

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the accounts schema. It refers to partners, so
// partner.Migrations must be applied first.
var Migrations = store.Component{Name: "account", FS: migrations, Dir: "migrations"}

// Consent kinds recorded in the consent log.
const (
	KindOpen   = "open"
	KindLink   = "link"
	KindRevoke = "revoke"
	KindErase  = "erase"
)

// Standard entry points; partner- or campaign-defined ones take the form
// "partner:<partner id>" or "campaign:<campaign id>" (see EntryPointPattern).
const (
	EntryPointSearch   = "search"
	EntryPointMyPage   = "my_page"
	EntryPointCampaign = "campaign"
)

// EntryPointPattern is what an entry point must look like: a lowercase word,
// optionally followed by ":" and a qualifier, e.g. "search", "my_page",
// "campaign:88week", "partner:eleme". A "partner:" entry point must name a
// registered partner.
var EntryPointPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{1,31}(:[a-z0-9][a-z0-9_.-]{0,63})?$`)

// ConsentVersionPattern is what a consent text version must look like,
// e.g. "2026-01" or "v1.2".
var ConsentVersionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

// MaxPartnersPerOpen bounds the partners linked by one open request.
const MaxPartnersPerOpen = 32

// Account is a person's parent account and its sub-accounts.
type Account struct {
	ID             int64        `json:"id"`
	Person         string       `json:"person"`
	EntryPoint     string       `json:"entry_point"`
	ConsentVersion string       `json:"consent_version"`
	OpenedAt       time.Time    `json:"opened_at"`
	Subaccounts    []Subaccount `json:"subaccounts"`
}

// Subaccount is the part of an account fed by one partner. A revoked
// sub-account stays (Linked false): what it earned still counts, but it
// earns nothing new until linked again.
type Subaccount struct {
	ID        int64      `json:"id"`
	Partner   string     `json:"partner"`
	Linked    bool       `json:"linked"`
	LinkedAt  time.Time  `json:"linked_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// OpenRequest is the consent a person gives to open an account.
type OpenRequest struct {
	EntryPoint     string
	ConsentVersion string
	Partners       []string
}

// Exporter returns one section of a person's export for their account.
type Exporter func(ctx context.Context, accountID int64) (any, error)

// Eraser removes or anonymises one package's personal data of an account,
// inside Erase's transaction.
type Eraser func(ctx context.Context, tx *store.Tx, accountID int64) error

// Service opens, links, revokes, exports and erases accounts. It is safe
// for concurrent use.
type Service struct {
	db *store.DB

	mu        sync.RWMutex
	exporters map[string]Exporter
	erasers   []Eraser
}

// NewService returns the account service over db.
func NewService(db *store.DB) *Service {
	return &Service{db: db, exporters: map[string]Exporter{}}
}

// Open opens person's account with the consent in req and links the named
// partners, recording each consent. If the account is already open it
// changes nothing and returns it with created false (link more partners
// with Link). Errors: EInvalid (bad person, entry point, consent version,
// or a partner that is not registered; nothing is stored).
func (s *Service) Open(ctx context.Context, person string, req OpenRequest) (*Account, bool, error) {
	if err := checkPerson(person); err != nil {
		return nil, false, err
	}
	if !EntryPointPattern.MatchString(req.EntryPoint) {
		return nil, false, oc.Errorf(oc.EInvalid, "entry_point must be search, my_page, campaign or a defined one like partner:<id> (pattern %s)", EntryPointPattern)
	}
	if !ConsentVersionPattern.MatchString(req.ConsentVersion) {
		return nil, false, oc.Errorf(oc.EInvalid, "consent_version is required and must match %s", ConsentVersionPattern)
	}
	if len(req.Partners) > MaxPartnersPerOpen {
		return nil, false, oc.Errorf(oc.EInvalid, "at most %d partners can be linked at once", MaxPartnersPerOpen)
	}
	partners := slices.Clone(req.Partners)
	slices.Sort(partners)
	partners = slices.Compact(partners)
	created := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, p := range partners {
			if ok, err := partner.ExistsTx(ctx, tx, p); err != nil {
				return err
			} else if !ok {
				return oc.Errorf(oc.EInvalid, "partner %q is not registered", p)
			}
		}
		if q, ok := strings.CutPrefix(req.EntryPoint, "partner:"); ok {
			if ok, err := partner.ExistsTx(ctx, tx, q); err != nil {
				return err
			} else if !ok {
				return oc.Errorf(oc.EInvalid, "entry point names partner %q, which is not registered", q)
			}
		}
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO accounts (person, entry_point, consent_version, opened_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (person) DO NOTHING RETURNING id`, person, req.EntryPoint, req.ConsentVersion, store.Micros(tx.Now)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // already open
		}
		if err != nil {
			return fmt.Errorf("open account: %w", err)
		}
		created = true
		if err := recordTx(ctx, tx, id, KindOpen, "", req.ConsentVersion, req.EntryPoint); err != nil {
			return err
		}
		for _, p := range partners {
			if _, err := linkTx(ctx, tx, id, p, req.ConsentVersion); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	a, err := s.Get(ctx, person)
	return a, created, err
}

// Get returns person's account with its sub-accounts. Errors: ENoConsent
// (no open account).
func (s *Service) Get(ctx context.Context, person string) (*Account, error) {
	if checkPerson(person) != nil {
		return nil, noConsent()
	}
	rd := s.db.Read()
	var a Account
	var opened int64
	err := rd.QueryRowContext(ctx, `SELECT id, person, entry_point, consent_version, opened_at FROM accounts WHERE person = $1`, person).
		Scan(&a.ID, &a.Person, &a.EntryPoint, &a.ConsentVersion, &opened)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, noConsent()
	}
	if err != nil {
		return nil, fmt.Errorf("get account: %w", err)
	}
	a.OpenedAt = store.Time(opened)
	a.Subaccounts, err = subaccounts(ctx, rd, a.ID)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func subaccounts(ctx context.Context, q querier, accountID int64) ([]Subaccount, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, partner, linked, linked_at, revoked_at FROM subaccounts WHERE account_id = $1 ORDER BY partner`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list sub-accounts: %w", err)
	}
	defer rows.Close()
	out := []Subaccount{}
	for rows.Next() {
		var sa Subaccount
		var linked int
		var linkedAt int64
		var revoked sql.NullInt64
		if err := rows.Scan(&sa.ID, &sa.Partner, &linked, &linkedAt, &revoked); err != nil {
			return nil, fmt.Errorf("list sub-accounts: %w", err)
		}
		sa.Linked = linked == 1
		sa.LinkedAt = store.Time(linkedAt)
		if revoked.Valid {
			t := store.Time(revoked.Int64)
			sa.RevokedAt = &t
		}
		out = append(out, sa)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sub-accounts: %w", err)
	}
	return out, nil
}

// Link links partner to person's account, creating its sub-account or
// re-linking a revoked one, and records the consent. Linking a linked
// partner changes nothing. Errors: ENoConsent, ENotFound (partner not
// registered).
func (s *Service) Link(ctx context.Context, person, partnerID string) (*Subaccount, error) {
	var sa *Subaccount
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		id, version, err := openAccountTx(ctx, tx, person)
		if err != nil {
			return err
		}
		if ok, err := partner.ExistsTx(ctx, tx, partnerID); err != nil {
			return err
		} else if !ok {
			return oc.Errorf(oc.ENotFound, "partner %q is not registered", partnerID)
		}
		sa, err = linkTx(ctx, tx, id, partnerID, version)
		return err
	})
	return sa, err
}

// linkTx links partnerID to account id unless already linked.
func linkTx(ctx context.Context, tx *store.Tx, id int64, partnerID, version string) (*Subaccount, error) {
	now := store.Micros(tx.Now)
	var sa Subaccount
	var linked int
	var linkedAt int64
	err := tx.QueryRowContext(ctx, `SELECT id, linked, linked_at FROM subaccounts WHERE account_id = $1 AND partner = $2`, id, partnerID).
		Scan(&sa.ID, &linked, &linkedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		err = tx.QueryRowContext(ctx, `INSERT INTO subaccounts (account_id, partner, linked, linked_at) VALUES ($1, $2, 1, $3) RETURNING id`,
			id, partnerID, now).Scan(&sa.ID)
	case err == nil && linked == 1:
		return &Subaccount{ID: sa.ID, Partner: partnerID, Linked: true, LinkedAt: store.Time(linkedAt)}, nil
	case err == nil:
		_, err = tx.ExecContext(ctx, `UPDATE subaccounts SET linked = 1, linked_at = $2, revoked_at = NULL WHERE id = $1`, sa.ID, now)
	}
	if err != nil {
		return nil, fmt.Errorf("link partner: %w", err)
	}
	if err := recordTx(ctx, tx, id, KindLink, partnerID, version, ""); err != nil {
		return nil, err
	}
	return &Subaccount{ID: sa.ID, Partner: partnerID, Linked: true, LinkedAt: tx.Now}, nil
}

// Revoke withdraws person's consent for partner: its sub-account stops
// earning at once (ResolveTx refuses it in every transaction that starts
// after Revoke returns) but keeps what it earned. Revoking a revoked
// partner changes nothing. Errors: ENoConsent, EPartnerNotLinked (never
// linked).
func (s *Service) Revoke(ctx context.Context, person, partnerID string) (*Subaccount, error) {
	var out *Subaccount
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		id, version, err := openAccountTx(ctx, tx, person)
		if err != nil {
			return err
		}
		var sa Subaccount
		var linked int
		var linkedAt int64
		var revoked sql.NullInt64
		err = tx.QueryRowContext(ctx, `SELECT id, linked, linked_at, revoked_at FROM subaccounts WHERE account_id = $1 AND partner = $2`, id, partnerID).
			Scan(&sa.ID, &linked, &linkedAt, &revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return oc.Errorf(oc.EPartnerNotLinked, "partner %q is not linked to this account", partnerID)
		}
		if err != nil {
			return fmt.Errorf("revoke partner: %w", err)
		}
		sa.Partner, sa.LinkedAt = partnerID, store.Time(linkedAt)
		out = &sa
		if linked == 0 {
			t := store.Time(revoked.Int64)
			sa.RevokedAt = &t
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE subaccounts SET linked = 0, revoked_at = $2 WHERE id = $1`, sa.ID, store.Micros(tx.Now)); err != nil {
			return fmt.Errorf("revoke partner: %w", err)
		}
		sa.RevokedAt = &tx.Now
		return recordTx(ctx, tx, id, KindRevoke, partnerID, version, "")
	})
	return out, err
}

// openAccountTx returns person's account id and consent version.
func openAccountTx(ctx context.Context, tx *store.Tx, person string) (int64, string, error) {
	if checkPerson(person) != nil {
		return 0, "", noConsent()
	}
	var id int64
	var version string
	err := tx.QueryRowContext(ctx, `SELECT id, consent_version FROM accounts WHERE person = $1`, person).Scan(&id, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", noConsent()
	}
	if err != nil {
		return 0, "", fmt.Errorf("find account: %w", err)
	}
	return id, version, nil
}

func recordTx(ctx context.Context, tx *store.Tx, id int64, kind, partnerID, version, entry string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO consents (account_id, kind, partner, consent_version, entry_point, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, kind, partnerID, version, entry, store.Micros(tx.Now))
	if err != nil {
		return fmt.Errorf("record consent: %w", err)
	}
	return nil
}

// checkPerson validates a host-platform person id: 1 to 128 bytes of
// printable UTF-8.
func checkPerson(person string) error {
	if person == "" || len(person) > 128 || !utf8.ValidString(person) || strings.ContainsFunc(person, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return oc.Errorf(oc.EInvalid, "person id must be 1 to 128 bytes of printable UTF-8")
	}
	return nil
}

func noConsent() error {
	return oc.Errorf(oc.ENoConsent, "no open carbon account: open one first (POST /v1/me/account)")
}

func newTombstone() string {
	var b [16]byte
	rand.Read(b[:])
	return "erased:" + hex.EncodeToString(b[:])
}
