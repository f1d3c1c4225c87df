package methodology

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	opencarbon "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

// factorMoves lists the legal factor status changes. A suspended factor
// stops the methodologies that use it from crediting at once (see
// NewEngine) until it is approved again; a retired factor can no longer be
// used by a newly approved methodology version, while versions already
// approved with it keep crediting (a new figure is a new factor version
// and a new methodology version). The value never changes.
var factorMoves = map[[2]string]bool{
	{FactorDraft, FactorApproved}:     true, // approve
	{FactorApproved, FactorSuspended}: true, // suspend
	{FactorSuspended, FactorApproved}: true, // reinstate
	{FactorApproved, FactorRetired}:   true, // retire
	{FactorSuspended, FactorRetired}:  true, // retire
}

// factorError turns a factor's first validation problem into an error: a
// unit that does not parse is EInvalidUnit, anything else EInvalid.
func factorError(f *Factor, ps []fieldProblem) error {
	code := opencarbon.EInvalid
	if ps[0].field == "unit" {
		code = opencarbon.EInvalidUnit
	}
	return opencarbon.Errorf(code, "factor %s: %s: %s", f.Ref(), ps[0].field, ps[0].msg)
}

// PutFactor adds a factor version to the library with the status it
// carries. Putting the same content again is a no-op whatever the stored
// status; different content replaces a draft, and is refused with
// EImmutable for a version that was ever approved (a new figure is a new
// version). Errors: EInvalid, EInvalidUnit, EImmutable.
func (s *Service) PutFactor(ctx context.Context, f Factor) error {
	_, err := s.putFactor(ctx, f)
	return err
}

// AddDraftFactor adds f as a draft factor version (f.Status must be empty
// or "draft") and returns the stored factor with its current status, and
// whether it was created or changed (false: the same content was already
// there). A reviewer or the admin approves it with SetFactorStatus.
// Errors: as PutFactor.
func (s *Service) AddDraftFactor(ctx context.Context, f Factor) (*Factor, bool, error) {
	if f.Status == "" {
		f.Status = FactorDraft
	}
	if f.Status != FactorDraft {
		return nil, false, opencarbon.Errorf(opencarbon.EInvalid, "factor %s: status: a new factor version is a draft; approve it with its status route", f.Ref())
	}
	changed, err := s.putFactor(ctx, f)
	if err != nil {
		return nil, false, err
	}
	stored, err := s.FindFactor(ctx, f.ID, f.Version)
	return stored, changed, err
}

func (s *Service) putFactor(ctx context.Context, f Factor) (changed bool, err error) {
	if ps := f.validate(); len(ps) > 0 {
		return false, factorError(&f, ps)
	}
	doc, err := canonicalJSON(&f)
	if err != nil {
		return false, fmt.Errorf("encode factor: %w", err)
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var old, status string
		err := tx.QueryRowContext(ctx, `SELECT document, status FROM emission_factors WHERE id = $1 AND version = $2`, f.ID, f.Version).Scan(&old, &status)
		if err == nil {
			var of Factor
			if json.Unmarshal([]byte(old), &of) == nil {
				nf := f
				of.Status, nf.Status = "", ""
				if reflect.DeepEqual(of, nf) {
					return nil
				}
			}
			if status != FactorDraft {
				return opencarbon.Errorf(opencarbon.EImmutable, "factor %s is %s with other content and can never change: publish a new version", f.Ref(), status)
			}
			changed = true
			_, err = tx.ExecContext(ctx, `UPDATE emission_factors SET document = $1, changed_at = $2 WHERE id = $3 AND version = $4 AND status = $5`,
				string(doc), store.Micros(tx.Now), f.ID, f.Version, FactorDraft)
			if err != nil {
				return fmt.Errorf("put factor: %w", err)
			}
			return bump(ctx, tx)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("put factor: %w", err)
		}
		changed = true
		_, err = tx.ExecContext(ctx, `INSERT INTO emission_factors (id, version, document, status, created_at, changed_at) VALUES ($1, $2, $3, $4, $5, $5)`,
			f.ID, f.Version, string(doc), f.Status, store.Micros(tx.Now))
		if store.IsUniqueViolation(err) {
			return opencarbon.Errorf(opencarbon.EConflict, "factor %s was added concurrently", f.Ref())
		}
		if err != nil {
			return fmt.Errorf("put factor: %w", err)
		}
		return bump(ctx, tx)
	})
	if err == nil && changed {
		s.dirty.Store(true)
	}
	return changed, err
}

// FindFactor returns factor id@version with its current status. Errors:
// ENotFound.
func (s *Service) FindFactor(ctx context.Context, id, version string) (*Factor, error) {
	var doc, status string
	err := s.db.Read().QueryRowContext(ctx, `SELECT document, status FROM emission_factors WHERE id = $1 AND version = $2`, id, version).Scan(&doc, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, opencarbon.Errorf(opencarbon.ENotFound, "factor %s@%s not found", id, version)
	}
	if err != nil {
		return nil, fmt.Errorf("find factor: %w", err)
	}
	var f Factor
	if err := json.Unmarshal([]byte(doc), &f); err != nil {
		return nil, fmt.Errorf("decode factor: %w", err)
	}
	f.Status = status
	return &f, nil
}

// SetFactorStatus moves a factor version along factorMoves: draft →
// approved, approved ⇄ suspended, approved or suspended → retired. A
// methodology can be approved only when all its factors are approved.
// Errors: ENotFound, EInvalid (an unknown status), EIllegalTransition.
func (s *Service) SetFactorStatus(ctx context.Context, id, version, status string) error {
	switch status {
	case FactorDraft, FactorApproved, FactorSuspended, FactorRetired:
	default:
		return opencarbon.Errorf(opencarbon.EInvalid, "factor status %q must be approved, suspended or retired", status)
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var cur string
		err := tx.QueryRowContext(ctx, `SELECT status FROM emission_factors WHERE id = $1 AND version = $2`, id, version).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return opencarbon.Errorf(opencarbon.ENotFound, "factor %s@%s not found", id, version)
		}
		if err != nil {
			return fmt.Errorf("factor status: %w", err)
		}
		if !factorMoves[[2]string{cur, status}] {
			return opencarbon.Errorf(opencarbon.EIllegalTransition, "factor %s@%s cannot go from %s to %s", id, version, cur, status)
		}
		res, err := tx.ExecContext(ctx, `UPDATE emission_factors SET status = $1, changed_at = $2 WHERE id = $3 AND version = $4 AND status = $5`,
			status, store.Micros(tx.Now), id, version, cur)
		if err != nil {
			return fmt.Errorf("factor status: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return opencarbon.Errorf(opencarbon.EConflict, "factor %s@%s changed concurrently", id, version)
		}
		return bump(ctx, tx)
	})
	if err == nil {
		s.dirty.Store(true)
	}
	return err
}
