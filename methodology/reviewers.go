package methodology

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	opencarbon "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

// Reviewer roles.
const (
	RoleReviewer = "reviewer" // may record review decisions, approve, suspend, retire
	RoleAuthor   = "author"   // may create drafts and submit them
)

var reviewerIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// Reviewer is an account of the methodology committee. It authenticates
// with a bearer token of which only the SHA-256 is stored.
type Reviewer struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Roles     []string  `json:"roles"`
	CreatedAt time.Time `json:"created_at"`
}

// Has reports whether r holds role.
func (r *Reviewer) Has(role string) bool {
	if r == nil {
		return false
	}
	for _, x := range r.Roles {
		if x == role {
			return true
		}
	}
	return false
}

func tokenHash(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

// CreateReviewer creates a reviewer account (an admin action) and returns
// it with its bearer token, which is shown only this once.
// Errors: EInvalid (bad id, name or role), EConflict (id taken).
func (s *Service) CreateReviewer(ctx context.Context, id, name string, roles []string) (*Reviewer, string, error) {
	if !reviewerIDPattern.MatchString(id) {
		return nil, "", opencarbon.Errorf(opencarbon.EInvalid, "reviewer id %q must be lowercase letters, digits, '.', '_' or '-'", id)
	}
	if strings.TrimSpace(name) == "" {
		return nil, "", opencarbon.Errorf(opencarbon.EInvalid, "reviewer name is required")
	}
	if len(roles) == 0 {
		return nil, "", opencarbon.Errorf(opencarbon.EInvalid, "at least one role (reviewer, author) is required")
	}
	set := map[string]bool{}
	for _, r := range roles {
		if r != RoleReviewer && r != RoleAuthor {
			return nil, "", opencarbon.Errorf(opencarbon.EInvalid, "unknown role %q (reviewer, author)", r)
		}
		set[r] = true
	}
	rs := make([]string, 0, len(set))
	for r := range set {
		rs = append(rs, r)
	}
	sort.Strings(rs)
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", fmt.Errorf("reviewer token: %w", err)
	}
	token := "ocr_" + hex.EncodeToString(b[:])
	rev := &Reviewer{ID: id, Name: name, Roles: rs}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		rev.CreatedAt = tx.Now
		_, err := tx.ExecContext(ctx, `INSERT INTO methodology_reviewers (id, name, roles, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
			id, name, strings.Join(rs, ","), tokenHash(token), store.Micros(tx.Now))
		if store.IsUniqueViolation(err) {
			return opencarbon.Errorf(opencarbon.EConflict, "reviewer %q exists", id)
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return rev, token, nil
}

// Authenticate returns the reviewer holding token. Errors: EUnauthed.
func (s *Service) Authenticate(ctx context.Context, token string) (*Reviewer, error) {
	if token == "" {
		return nil, opencarbon.Errorf(opencarbon.EUnauthed, "reviewer token required")
	}
	r, err := s.reviewer(ctx, `token_hash = $1`, tokenHash(token))
	if opencarbon.ErrorCode(err) == opencarbon.ENotFound {
		return nil, opencarbon.Errorf(opencarbon.EUnauthed, "unknown reviewer token")
	}
	return r, err
}

// FindReviewerByID returns a reviewer. Errors: ENotFound.
func (s *Service) FindReviewerByID(ctx context.Context, id string) (*Reviewer, error) {
	return s.reviewer(ctx, `id = $1`, id)
}

func (s *Service) reviewer(ctx context.Context, where string, arg any) (*Reviewer, error) {
	var r Reviewer
	var roles string
	var at int64
	err := s.db.Read().QueryRowContext(ctx, `SELECT id, name, roles, created_at FROM methodology_reviewers WHERE `+where, arg).
		Scan(&r.ID, &r.Name, &roles, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, opencarbon.Errorf(opencarbon.ENotFound, "reviewer not found")
	}
	if err != nil {
		return nil, fmt.Errorf("find reviewer: %w", err)
	}
	r.Roles = strings.Split(roles, ",")
	r.CreatedAt = store.Time(at)
	return &r, nil
}
