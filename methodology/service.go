package methodology

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	opencarbon "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

// Service is the methodology registry: versions and their lifecycle,
// review decisions, reviewer accounts and the factor library, stored in
// the database, plus a cached Engine of the approved versions.
type Service struct {
	db     *store.DB
	quorum int

	mu    sync.Mutex // serialises engine rebuilds
	state atomic.Pointer[engineState]
	dirty atomic.Bool
}

type engineState struct {
	engine     *Engine
	generation int64
	checked    time.Time
}

// DefaultQuorum is the number of distinct approving reviewers needed when
// NewService is given quorum < 1.
const DefaultQuorum = 2

// NewService returns a registry over db (migrated with Migrations).
func NewService(db *store.DB, quorum int) *Service {
	if quorum < 1 {
		quorum = DefaultQuorum
	}
	return &Service{db: db, quorum: quorum}
}

// Quorum returns the number of distinct approving reviewers required.
func (s *Service) Quorum() int { return s.quorum }

// Version is a methodology version as stored in the registry.
type Version struct {
	ID            string          `json:"id"`
	Version       string          `json:"version"`
	Scenario      string          `json:"scenario"`
	Title         Text            `json:"title"`
	Hash          string          `json:"hash"`
	Status        string          `json:"status"`
	Author        string          `json:"author"`
	Supersedes    string          `json:"supersedes,omitempty"`
	EffectiveFrom *time.Time      `json:"effective_from,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	ChangedAt     time.Time       `json:"changed_at"`
	Document      json.RawMessage `json:"document,omitempty"`
	Reviews       []Review        `json:"reviews,omitempty"`
	Transitions   []Transition    `json:"transitions,omitempty"`
}

// Review is one recorded review decision on a version's content (hash).
type Review struct {
	Reviewer string    `json:"reviewer"`
	Decision string    `json:"decision"` // approve or reject
	Comment  string    `json:"comment"`
	Hash     string    `json:"hash"`
	At       time.Time `json:"at"`
}

// Transition is one recorded lifecycle change.
type Transition struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// legal lists the allowed lifecycle transitions.
var legal = map[[2]string]bool{
	{StatusDraft, StatusInReview}:     true, // submit
	{StatusInReview, StatusDraft}:     true, // withdraw
	{StatusInReview, StatusApproved}:  true, // approve
	{StatusApproved, StatusSuspended}: true, // suspend
	{StatusSuspended, StatusApproved}: true, // reinstate
	{StatusApproved, StatusRetired}:   true, // retire
	{StatusSuspended, StatusRetired}:  true, // retire
}

// Create stores a new draft from a YAML or JSON document written by author
// (who needs the author role). Re-creating an existing draft by its author
// replaces it. Errors: EForbidden, EInvalid (document problems, as a
// *DocError), EImmutable (the version exists and is no longer a draft),
// EConflict (a draft of another author), ENotFound (supersedes unknown).
func (s *Service) Create(ctx context.Context, author *Reviewer, src []byte) (*Version, error) {
	if !author.Has(RoleAuthor) {
		return nil, opencarbon.Errorf(opencarbon.EForbidden, "creating a methodology needs the author role")
	}
	factors, err := s.factorLibrary(ctx)
	if err != nil {
		return nil, err
	}
	m, err := Load("document", src, factors)
	if err != nil {
		return nil, err
	}
	d := &m.Doc
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var status, owner string
		err := tx.QueryRowContext(ctx, `SELECT status, author FROM methodology_versions WHERE id = $1 AND version = $2`, d.ID, d.Version).Scan(&status, &owner)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if d.Supersedes != "" {
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM methodology_versions WHERE id = $1 AND version = $2`, d.ID, d.Supersedes).Scan(&n); err != nil {
					return err
				}
				if n == 0 {
					return opencarbon.Errorf(opencarbon.ENotFound, "superseded version %s@%s not found", d.ID, d.Supersedes)
				}
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO methodology_versions (id, version, scenario, hash, document, source, status, author, supersedes, effective_from, created_at, changed_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $10)`,
				d.ID, d.Version, d.Scenario, m.hash, string(m.canonical), string(src), StatusDraft, author.ID, d.Supersedes, store.Micros(tx.Now))
			if store.IsUniqueViolation(err) {
				return opencarbon.Errorf(opencarbon.EConflict, "%s@%s was created concurrently", d.ID, d.Version)
			}
			if err != nil {
				return fmt.Errorf("create methodology: %w", err)
			}
		case err != nil:
			return fmt.Errorf("create methodology: %w", err)
		case status != StatusDraft:
			return opencarbon.Errorf(opencarbon.EImmutable, "%s@%s is %s and can never change: publish a new version", d.ID, d.Version, status)
		case owner != author.ID:
			return opencarbon.Errorf(opencarbon.EConflict, "%s@%s is a draft of %s", d.ID, d.Version, owner)
		default:
			_, err = tx.ExecContext(ctx, `UPDATE methodology_versions SET scenario = $1, hash = $2, document = $3, source = $4, supersedes = $5, changed_at = $6
				WHERE id = $7 AND version = $8 AND status = $9`,
				d.Scenario, m.hash, string(m.canonical), string(src), d.Supersedes, store.Micros(tx.Now), d.ID, d.Version, StatusDraft)
			if err != nil {
				return fmt.Errorf("update draft: %w", err)
			}
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	s.dirty.Store(true)
	return s.Get(ctx, d.ID, d.Version)
}

func bump(ctx context.Context, tx *store.Tx) error {
	_, err := tx.ExecContext(ctx, `UPDATE methodology_generation SET generation = generation + 1 WHERE k = 1`)
	if err != nil {
		return fmt.Errorf("bump registry generation: %w", err)
	}
	return nil
}

func actorID(r *Reviewer) string {
	if r == nil {
		return "admin"
	}
	return r.ID
}

// transition moves id@version from its current status to `to` inside tx,
// after check (which may refuse) has seen the row.
func (s *Service) transition(ctx context.Context, id, version, to string, actor *Reviewer, reason string, effective *time.Time,
	check func(tx *store.Tx, status, author, hash string) error) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var status, author, hash string
		err := tx.QueryRowContext(ctx, `SELECT status, author, hash FROM methodology_versions WHERE id = $1 AND version = $2`, id, version).Scan(&status, &author, &hash)
		if errors.Is(err, sql.ErrNoRows) {
			return opencarbon.Errorf(opencarbon.ENotFound, "methodology %s@%s not found", id, version)
		}
		if err != nil {
			return fmt.Errorf("transition: %w", err)
		}
		if !legal[[2]string{status, to}] {
			return opencarbon.Errorf(opencarbon.EIllegalTransition, "%s@%s cannot go from %s to %s", id, version, status, to)
		}
		if check != nil {
			if err := check(tx, status, author, hash); err != nil {
				return err
			}
		}
		q := `UPDATE methodology_versions SET status = $1, changed_at = $2 WHERE id = $3 AND version = $4 AND status = $5`
		args := []any{to, store.Micros(tx.Now), id, version, status}
		if effective != nil {
			q = `UPDATE methodology_versions SET status = $1, changed_at = $2, effective_from = $6 WHERE id = $3 AND version = $4 AND status = $5`
			args = append(args, store.Micros(*effective))
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("transition: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return opencarbon.Errorf(opencarbon.EConflict, "%s@%s changed concurrently", id, version)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO methodology_transitions (seq, id, version, from_status, to_status, actor, reason, at)
			VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM methodology_transitions WHERE id = $1 AND version = $2), $1, $2, $3, $4, $5, $6, $7)`,
			id, version, status, to, actorID(actor), reason, store.Micros(tx.Now))
		if err != nil {
			return fmt.Errorf("record transition: %w", err)
		}
		return bump(ctx, tx)
	})
	if err == nil {
		s.dirty.Store(true)
	}
	return err
}

// Submit sends a draft to review. Only its author may. Errors: ENotFound,
// EIllegalTransition, EForbidden.
func (s *Service) Submit(ctx context.Context, actor *Reviewer, id, version string) error {
	return s.transition(ctx, id, version, StatusInReview, actor, "submitted", nil, func(_ *store.Tx, _, author, _ string) error {
		if actor == nil || actor.ID != author {
			return opencarbon.Errorf(opencarbon.EForbidden, "only the author %s may submit %s@%s", author, id, version)
		}
		return nil
	})
}

// Withdraw returns a version in review to draft so that its author can
// change it; reviews recorded on the old content no longer count.
func (s *Service) Withdraw(ctx context.Context, actor *Reviewer, id, version string) error {
	return s.transition(ctx, id, version, StatusDraft, actor, "withdrawn", nil, func(_ *store.Tx, _, author, _ string) error {
		if actor == nil || actor.ID != author {
			return opencarbon.Errorf(opencarbon.EForbidden, "only the author %s may withdraw %s@%s", author, id, version)
		}
		return nil
	})
}

// Review records reviewer's decision ("approve" or "reject", with a
// comment) on a version in review. Errors: EForbidden (not a reviewer),
// ESelfReview (the author), EIllegalTransition (not in review), EInvalid,
// EConflict (already decided on this content), ENotFound.
func (s *Service) Review(ctx context.Context, reviewer *Reviewer, id, version, decision, comment string) error {
	if !reviewer.Has(RoleReviewer) {
		return opencarbon.Errorf(opencarbon.EForbidden, "reviewing needs the reviewer role")
	}
	if decision != "approve" && decision != "reject" {
		return opencarbon.Errorf(opencarbon.EInvalid, "decision %q must be approve or reject", decision)
	}
	if decision == "reject" && comment == "" {
		return opencarbon.Errorf(opencarbon.EInvalid, "a rejection needs a comment")
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var status, author, hash string
		err := tx.QueryRowContext(ctx, `SELECT status, author, hash FROM methodology_versions WHERE id = $1 AND version = $2`, id, version).Scan(&status, &author, &hash)
		if errors.Is(err, sql.ErrNoRows) {
			return opencarbon.Errorf(opencarbon.ENotFound, "methodology %s@%s not found", id, version)
		}
		if err != nil {
			return fmt.Errorf("review: %w", err)
		}
		if status != StatusInReview {
			return opencarbon.Errorf(opencarbon.EIllegalTransition, "%s@%s is %s; only a version in review can be reviewed", id, version, status)
		}
		if author == reviewer.ID {
			return opencarbon.Errorf(opencarbon.ESelfReview, "%s wrote %s@%s and may not review it", author, id, version)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO methodology_reviews (id, version, hash, reviewer, decision, comment, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			id, version, hash, reviewer.ID, decision, comment, store.Micros(tx.Now))
		if store.IsUniqueViolation(err) {
			return opencarbon.Errorf(opencarbon.EConflict, "%s already reviewed this content of %s@%s", reviewer.ID, id, version)
		}
		if err != nil {
			return fmt.Errorf("review: %w", err)
		}
		return bump(ctx, tx)
	})
}

// Approve approves a version in review, effective from effectiveFrom (zero:
// now). It needs the quorum of distinct approving reviewers (none of them
// the author, no rejection) on the current content, all referenced factors
// approved, and every test vector green. Errors: EForbidden, ESelfReview,
// EQuorumNotMet, EVectorsFailing, EIllegalTransition, ENotFound.
func (s *Service) Approve(ctx context.Context, actor *Reviewer, id, version string, effectiveFrom time.Time) error {
	if actor != nil && !actor.Has(RoleReviewer) {
		return opencarbon.Errorf(opencarbon.EForbidden, "approving needs the reviewer role")
	}
	factors, err := s.factorLibrary(ctx)
	if err != nil {
		return err
	}
	eff := effectiveFrom
	return s.transition(ctx, id, version, StatusApproved, actor, "approved", &eff, func(tx *store.Tx, status, author, hash string) error {
		if status != StatusInReview {
			return opencarbon.Errorf(opencarbon.EIllegalTransition, "%s@%s is %s; use reinstate for a suspended version", id, version, status)
		}
		if actor != nil && actor.ID == author {
			return opencarbon.Errorf(opencarbon.ESelfReview, "%s wrote %s@%s and may not approve it", author, id, version)
		}
		if eff.IsZero() {
			eff = tx.Now
		}
		rows, err := tx.QueryContext(ctx, `SELECT reviewer, decision FROM methodology_reviews WHERE id = $1 AND version = $2 AND hash = $3 ORDER BY reviewer`, id, version, hash)
		if err != nil {
			return fmt.Errorf("approve: %w", err)
		}
		defer rows.Close()
		approvals := map[string]bool{}
		for rows.Next() {
			var who, decision string
			if err := rows.Scan(&who, &decision); err != nil {
				return fmt.Errorf("approve: %w", err)
			}
			if decision == "reject" {
				return opencarbon.Errorf(opencarbon.EQuorumNotMet, "%s@%s was rejected by %s", id, version, who)
			}
			if who != author {
				approvals[who] = true
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("approve: %w", err)
		}
		if len(approvals) < s.quorum {
			return opencarbon.Errorf(opencarbon.EQuorumNotMet, "%s@%s has %d of %d approving reviews", id, version, len(approvals), s.quorum)
		}
		var doc string
		if err := tx.QueryRowContext(ctx, `SELECT document FROM methodology_versions WHERE id = $1 AND version = $2`, id, version).Scan(&doc); err != nil {
			return fmt.Errorf("approve: %w", err)
		}
		m, err := Load(id+"@"+version, []byte(doc), factors)
		if err != nil {
			return opencarbon.Errorf(opencarbon.EVectorsFailing, "%s@%s no longer loads: %v", id, version, err)
		}
		for _, f := range m.factors {
			if lf, _ := factors.Get(f.Ref); lf == nil || lf.Status != FactorApproved {
				return opencarbon.Errorf(opencarbon.EInvalid, "factor %s is not approved", f.Ref)
			}
		}
		if ok, why := m.VectorsPass(); !ok {
			return opencarbon.Errorf(opencarbon.EVectorsFailing, "%s@%s: test vector %s", id, version, why)
		}
		return nil
	})
}

// Suspend stops crediting an approved version at once (a reviewer or the
// admin, actor nil). Errors: EForbidden, EIllegalTransition, ENotFound.
func (s *Service) Suspend(ctx context.Context, actor *Reviewer, id, version, reason string) error {
	return s.simple(ctx, actor, id, version, StatusSuspended, reason)
}

// Reinstate returns a suspended version to approved.
func (s *Service) Reinstate(ctx context.Context, actor *Reviewer, id, version, reason string) error {
	return s.simple(ctx, actor, id, version, StatusApproved, reason)
}

// Retire ends an approved or suspended version for good; it stays in the
// registry so that its calc records can still be recomputed.
func (s *Service) Retire(ctx context.Context, actor *Reviewer, id, version, reason string) error {
	return s.simple(ctx, actor, id, version, StatusRetired, reason)
}

func (s *Service) simple(ctx context.Context, actor *Reviewer, id, version, to, reason string) error {
	if actor != nil && !actor.Has(RoleReviewer) {
		return opencarbon.Errorf(opencarbon.EForbidden, "this change needs the reviewer role")
	}
	if reason == "" {
		reason = to
	}
	return s.transition(ctx, id, version, to, actor, reason, nil, func(_ *store.Tx, status, _, _ string) error {
		if to == StatusApproved && status != StatusSuspended {
			return opencarbon.Errorf(opencarbon.EIllegalTransition, "only a suspended version can be reinstated")
		}
		return nil
	})
}
