// Package partner is the registry of partner apps (Ele.me, Cainiao, ...):
// their ids, scopes and webhook URLs, their signing secrets (encrypted at
// rest, rotated with an overlap window) and the verification of signed
// partner requests (DESIGN.md signature scheme, see Verify), plus the
// client-side helpers Sign and SignRequest.
//
// It must never store a secret in clear text, never compare a signature in
// variable time, never accept a request whose signature, timestamp, nonce or
// scope it has not checked, and never know anything about people or events.
package partner

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the partner registry's schema.
var Migrations = store.Component{Name: "partner", FS: migrations, Dir: "migrations"}

// Scopes a partner may hold.
const (
	ScopeEventsWrite   = "events:write"   // report events
	ScopeEventsReverse = "events:reverse" // reverse credited events
	ScopeMallManage    = "mall:manage"    // manage its sub-account mall items
	ScopeWebhooks      = "webhooks"       // receive webhooks
)

// AllScopes lists every scope, sorted.
var AllScopes = []string{ScopeEventsReverse, ScopeEventsWrite, ScopeMallManage, ScopeWebhooks}

// DefaultOverlap is how long a rotated secret keeps working.
const DefaultOverlap = 24 * time.Hour

// MaxOverlap bounds the overlap window of a rotation.
const MaxOverlap = 30 * 24 * time.Hour

// idPattern is the shape of a partner id: it appears in URLs, headers,
// behavior names ("eleme.no_cutlery") and entry points.
var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{1,31}$`)

// ValidID reports whether id has the shape of a partner id.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Partner statuses.
const (
	StatusActive    = "active"    // signed requests are accepted
	StatusSuspended = "suspended" // every signed request is refused with EPartnerSuspended
)

// Partner is a registered partner app. The Status* fields say who set the
// current status, when and why; they are empty for a partner that was
// never suspended.
type Partner struct {
	ID              string     `json:"id"`
	Name            string     `json:"name"`
	Scopes          []string   `json:"scopes"`
	WebhookURL      string     `json:"webhook_url,omitempty"`
	Status          string     `json:"status"`
	StatusReason    string     `json:"status_reason,omitempty"`
	StatusChangedBy string     `json:"status_changed_by,omitempty"`
	StatusChangedAt *time.Time `json:"status_changed_at,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
}

// Active reports whether p's signed requests are accepted.
func (p *Partner) Active() bool { return p.Status == StatusActive }

// HasScope reports whether p holds scope.
func (p *Partner) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// Registration is what an operator supplies to register a partner.
type Registration struct {
	ID         string
	Name       string
	Scopes     []string
	WebhookURL string
}

// Service is the partner registry. It is safe for concurrent use; several
// processes may share one database.
type Service struct {
	db  *store.DB
	key []byte

	// CacheTTL is how long Verify may use a partner's decrypted secrets
	// before reading them again: a rotation or a new partner made by
	// another process takes effect within it. Rotations in this process
	// take effect at once.
	CacheTTL time.Duration

	mu        sync.Mutex
	cache     map[string]cached
	lastPrune time.Time
	nonces    nonceBatch // guarded by mu
}

// NewService returns the registry over db; key is the 32-byte AES-256 key
// that encrypts secrets at rest.
func NewService(db *store.DB, key []byte) (*Service, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("partner: secret key must be 32 bytes, got %d", len(key))
	}
	return &Service{db: db, key: slices.Clone(key), CacheTTL: 2 * time.Second, cache: map[string]cached{}}, nil
}

// Register adds a partner and returns its first secret, which is shown only
// once. Errors: EInvalid (bad id, name, scopes or URL), EConflict (id taken).
func (s *Service) Register(ctx context.Context, reg Registration) (string, error) {
	scopes, err := checkRegistration(&reg)
	if err != nil {
		return "", err
	}
	secret := newSecret()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		return s.insertTx(ctx, tx, reg, scopes, secret)
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

func (s *Service) insertTx(ctx context.Context, tx *store.Tx, reg Registration, scopes []string, secret string) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO partners (id, name, scopes, webhook_url, status, secret_version, created_at)
		VALUES ($1, $2, $3, $4, 'active', 1, $5) ON CONFLICT (id) DO NOTHING`,
		reg.ID, reg.Name, strings.Join(scopes, " "), reg.WebhookURL, store.Micros(tx.Now))
	if err != nil {
		return fmt.Errorf("register partner: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("register partner: %w", err)
	} else if n == 0 {
		return oc.Errorf(oc.EConflict, "partner %q is already registered", reg.ID)
	}
	return s.addSecretTx(ctx, tx, reg.ID, 1, secret)
}

func (s *Service) addSecretTx(ctx context.Context, tx *store.Tx, id string, version int64, secret string) error {
	sealed, err := seal(s.key, secret, aad(id, version))
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO partner_secrets (partner, version, secret, created_at, expires_at) VALUES ($1, $2, $3, $4, NULL)`,
		id, version, sealed, store.Micros(tx.Now))
	if err != nil {
		return fmt.Errorf("store partner secret: %w", err)
	}
	return nil
}

// Rotate gives partner id a new secret, shown only once, and keeps the
// current one valid for overlap (0 ends it now). It returns the new secret
// and when the previous one stops working. Errors: ENotFound, EInvalid.
func (s *Service) Rotate(ctx context.Context, id string, overlap time.Duration) (secret string, previousValidUntil time.Time, err error) {
	if overlap < 0 || overlap > MaxOverlap {
		return "", time.Time{}, oc.Errorf(oc.EInvalid, "overlap must be between 0 and %s", MaxOverlap)
	}
	secret = newSecret()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		until, err := s.rotateTx(ctx, tx, id, secret, overlap)
		previousValidUntil = until
		return err
	})
	if err != nil {
		return "", time.Time{}, err
	}
	s.forget(id)
	return secret, previousValidUntil, nil
}

func (s *Service) rotateTx(ctx context.Context, tx *store.Tx, id, secret string, overlap time.Duration) (time.Time, error) {
	// The UPDATE locks the partner row, serialising concurrent rotations.
	var version int64
	err := tx.QueryRowContext(ctx, `UPDATE partners SET secret_version = secret_version + 1 WHERE id = $1 RETURNING secret_version`, id).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, oc.Errorf(oc.ENotFound, "partner %q is not registered", id)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("rotate partner secret: %w", err)
	}
	now := store.Micros(tx.Now)
	until := tx.Now.Add(overlap)
	if _, err := tx.ExecContext(ctx, `DELETE FROM partner_secrets WHERE partner = $1 AND expires_at IS NOT NULL AND expires_at <= $2`, id, now); err != nil {
		return time.Time{}, fmt.Errorf("rotate partner secret: %w", err)
	}
	// Secrets already winding down keep their earlier end.
	if _, err := tx.ExecContext(ctx, `UPDATE partner_secrets SET expires_at = $2 WHERE partner = $1 AND (expires_at IS NULL OR expires_at > $2)`,
		id, store.Micros(until)); err != nil {
		return time.Time{}, fmt.Errorf("rotate partner secret: %w", err)
	}
	return until, s.addSecretTx(ctx, tx, id, version, secret)
}

// Seed registers reg with the given secret if it is not registered yet, or
// makes secret its current secret if it is not already valid (the previous
// one keeps DefaultOverlap). It is for demo data, whose secrets must be
// stable across restarts; it is idempotent.
func (s *Service) Seed(ctx context.Context, reg Registration, secret string) error {
	scopes, err := checkRegistration(&reg)
	if err != nil {
		return err
	}
	if len(secret) < 32 {
		return oc.Errorf(oc.EInvalid, "seed secret must be at least 32 characters")
	}
	ok, err := s.Exists(ctx, reg.ID)
	if err != nil {
		return err
	}
	if !ok {
		err := s.db.InTx(ctx, func(tx *store.Tx) error { return s.insertTx(ctx, tx, reg, scopes, secret) })
		if oc.ErrorCode(err) != oc.EConflict {
			return err
		}
	}
	_, secrets, err := s.load(ctx, reg.ID)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(secrets, func(k validSecret) bool { return k.secret == secret }) {
		return nil
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := s.rotateTx(ctx, tx, reg.ID, secret, DefaultOverlap)
		return err
	})
	s.forget(reg.ID)
	return err
}

// Get returns partner id. Errors: ENotFound.
func (s *Service) Get(ctx context.Context, id string) (*Partner, error) {
	if !ValidID(id) {
		return nil, oc.Errorf(oc.ENotFound, "partner %q is not registered", id)
	}
	row := s.db.Read().QueryRowContext(ctx, `SELECT `+partnerCols+` FROM partners WHERE id = $1`, id)
	p, err := scanPartner(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, oc.Errorf(oc.ENotFound, "partner %q is not registered", id)
	}
	return p, err
}

// List returns every partner, by id.
func (s *Service) List(ctx context.Context) ([]*Partner, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+partnerCols+` FROM partners ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list partners: %w", err)
	}
	defer rows.Close()
	out := []*Partner{}
	for rows.Next() {
		p, err := scanPartner(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list partners: %w", err)
	}
	return out, nil
}

// SetWebhookURL sets (or, with "", clears) where partner id receives
// webhooks. Errors: ENotFound, EInvalid.
func (s *Service) SetWebhookURL(ctx context.Context, id, webhookURL string) error {
	if err := checkWebhookURL(webhookURL); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE partners SET webhook_url = $2 WHERE id = $1`, id, webhookURL)
		if err != nil {
			return fmt.Errorf("set webhook url: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return oc.Errorf(oc.ENotFound, "partner %q is not registered", id)
		}
		return nil
	})
}

// Endpoint returns the webhook URL of partner id ("" if none) and its
// current secret, with which webhook deliveries are signed. Errors:
// ENotFound (also for a suspended partner: it receives no webhooks).
func (s *Service) Endpoint(ctx context.Context, id string) (webhookURL, secret string, err error) {
	p, secrets, err := s.secrets(ctx, id)
	if err != nil {
		return "", "", err
	}
	if p == nil || !p.Active() || len(secrets) == 0 {
		return "", "", oc.Errorf(oc.ENotFound, "partner %q is not registered or is suspended", id)
	}
	return p.WebhookURL, secrets[0].secret, nil
}

// Exists reports whether partner id is registered and active.
func (s *Service) Exists(ctx context.Context, id string) (bool, error) {
	if !ValidID(id) {
		return false, nil
	}
	var n int
	err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM partners WHERE id = $1 AND status = 'active'`, id).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("partner exists: %w", err)
	}
	return n > 0, nil
}

// ExistsTx is Exists inside tx, for packages (account) that must check a
// partner in the transaction that refers to it.
func ExistsTx(ctx context.Context, tx *store.Tx, id string) (bool, error) {
	if !ValidID(id) {
		return false, nil
	}
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM partners WHERE id = $1 AND status = 'active'`, id).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("partner exists: %w", err)
	}
	return n > 0, nil
}

type scanner interface{ Scan(...any) error }

// partnerCols are the columns scanPartner reads.
const partnerCols = `id, name, scopes, webhook_url, status, status_reason, status_by, status_at, created_at`

func scanPartner(r scanner) (*Partner, error) {
	var p Partner
	var scopes string
	var created int64
	var changed sql.NullInt64
	if err := r.Scan(&p.ID, &p.Name, &scopes, &p.WebhookURL, &p.Status, &p.StatusReason, &p.StatusChangedBy, &changed, &created); err != nil {
		return nil, err
	}
	p.Scopes = strings.Fields(scopes)
	p.CreatedAt = store.Time(created)
	if changed.Valid {
		t := store.Time(changed.Int64)
		p.StatusChangedAt = &t
	}
	return &p, nil
}

// checkRegistration validates reg and returns its scopes sorted and
// de-duplicated.
func checkRegistration(reg *Registration) ([]string, error) {
	if !ValidID(reg.ID) {
		return nil, oc.Errorf(oc.EInvalid, "partner id must match %s", idPattern)
	}
	reg.Name = strings.TrimSpace(reg.Name)
	if reg.Name == "" || utf8.RuneCountInString(reg.Name) > 100 || !utf8.ValidString(reg.Name) || strings.ContainsFunc(reg.Name, isControl) {
		return nil, oc.Errorf(oc.EInvalid, "partner name must be 1 to 100 printable characters")
	}
	scopes, err := checkScopes(reg.Scopes)
	if err != nil {
		return nil, err
	}
	if err := checkWebhookURL(reg.WebhookURL); err != nil {
		return nil, err
	}
	return scopes, nil
}

// checkScopes refuses an empty list or a scope not in AllScopes and
// returns the scopes sorted and de-duplicated.
func checkScopes(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, oc.Errorf(oc.EInvalid, "a partner needs at least one scope of %s", strings.Join(AllScopes, ", "))
	}
	scopes := slices.Clone(in)
	for _, sc := range scopes {
		if !slices.Contains(AllScopes, sc) {
			return nil, oc.Errorf(oc.EInvalid, "unknown scope %q (known: %s)", sc, strings.Join(AllScopes, ", "))
		}
	}
	slices.Sort(scopes)
	return slices.Compact(scopes), nil
}

func checkWebhookURL(u string) error {
	if u == "" {
		return nil
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || len(u) > 2048 || p.User != nil {
		return oc.Errorf(oc.EInvalid, "webhook_url must be an absolute http(s) URL without credentials, at most 2048 bytes")
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
