package methodology

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	opencarbon "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

const versionCols = `id, version, scenario, hash, status, author, supersedes, effective_from, created_at, changed_at, document`

func scanVersion(sc interface{ Scan(...any) error }, withDoc bool) (*Version, error) {
	var v Version
	var eff, created, changed int64
	var doc string
	if err := sc.Scan(&v.ID, &v.Version, &v.Scenario, &v.Hash, &v.Status, &v.Author, &v.Supersedes, &eff, &created, &changed, &doc); err != nil {
		return nil, err
	}
	if v.Status == StatusApproved || v.Status == StatusSuspended || v.Status == StatusRetired {
		t := store.Time(eff)
		v.EffectiveFrom = &t
	}
	v.CreatedAt, v.ChangedAt = store.Time(created), store.Time(changed)
	var head struct {
		Title Text `json:"title"`
	}
	_ = json.Unmarshal([]byte(doc), &head)
	v.Title = head.Title
	if withDoc {
		v.Document = json.RawMessage(doc)
	}
	return &v, nil
}

// List returns every version in the registry (without documents), by id
// and version. Pass a status to filter, or "" for all.
func (s *Service) List(ctx context.Context, status string) ([]Version, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+versionCols+` FROM methodology_versions WHERE $1 = '' OR status = $1 ORDER BY id, created_at, version`, status)
	if err != nil {
		return nil, fmt.Errorf("list methodologies: %w", err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		v, err := scanVersion(rows, false)
		if err != nil {
			return nil, fmt.Errorf("list methodologies: %w", err)
		}
		out = append(out, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list methodologies: %w", err)
	}
	return out, nil
}

// Get returns one version with its canonical document, review records and
// transitions. Errors: ENotFound.
func (s *Service) Get(ctx context.Context, id, version string) (*Version, error) {
	db := s.db.Read()
	v, err := scanVersion(db.QueryRowContext(ctx, `SELECT `+versionCols+` FROM methodology_versions WHERE id = $1 AND version = $2`, id, version), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, opencarbon.Errorf(opencarbon.ENotFound, "methodology %s@%s not found", id, version)
	}
	if err != nil {
		return nil, fmt.Errorf("get methodology: %w", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT reviewer, decision, comment, hash, created_at FROM methodology_reviews WHERE id = $1 AND version = $2 ORDER BY created_at, reviewer`, id, version)
	if err != nil {
		return nil, fmt.Errorf("get reviews: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Review
		var at int64
		if err := rows.Scan(&r.Reviewer, &r.Decision, &r.Comment, &r.Hash, &at); err != nil {
			return nil, fmt.Errorf("get reviews: %w", err)
		}
		r.At = store.Time(at)
		v.Reviews = append(v.Reviews, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get reviews: %w", err)
	}
	trows, err := db.QueryContext(ctx, `SELECT from_status, to_status, actor, reason, at FROM methodology_transitions WHERE id = $1 AND version = $2 ORDER BY seq`, id, version)
	if err != nil {
		return nil, fmt.Errorf("get transitions: %w", err)
	}
	defer trows.Close()
	for trows.Next() {
		var t Transition
		var at int64
		if err := trows.Scan(&t.From, &t.To, &t.Actor, &t.Reason, &at); err != nil {
			return nil, fmt.Errorf("get transitions: %w", err)
		}
		t.At = store.Time(at)
		v.Transitions = append(v.Transitions, t)
	}
	return v, trows.Err()
}

// Factors returns the factor library stored in the registry, by ref.
func (s *Service) Factors(ctx context.Context) ([]Factor, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT document, status FROM emission_factors ORDER BY id, version`)
	if err != nil {
		return nil, fmt.Errorf("list factors: %w", err)
	}
	defer rows.Close()
	var out []Factor
	for rows.Next() {
		var doc, status string
		if err := rows.Scan(&doc, &status); err != nil {
			return nil, fmt.Errorf("list factors: %w", err)
		}
		var f Factor
		if err := json.Unmarshal([]byte(doc), &f); err != nil {
			return nil, fmt.Errorf("decode factor: %w", err)
		}
		f.Status = status
		out = append(out, f)
	}
	return out, rows.Err()
}

func (s *Service) factorLibrary(ctx context.Context) (*Factors, error) {
	list, err := s.Factors(ctx)
	if err != nil {
		return nil, err
	}
	return NewFactors(list)
}

// Engine returns an engine of the approved (and suspended and retired, for
// recomputation) versions. It is cached; a lifecycle change in this process
// rebuilds it on the next call, and a change by another process is seen
// within a second (a cheap generation check).
func (s *Service) Engine(ctx context.Context) (*Engine, error) {
	if st := s.state.Load(); st != nil && !s.dirty.Load() && time.Since(st.checked) < time.Second {
		return st.engine, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state.Load()
	if st != nil && !s.dirty.Load() && time.Since(st.checked) < time.Second {
		return st.engine, nil
	}
	var gen int64
	if err := s.db.Read().QueryRowContext(ctx, `SELECT generation FROM methodology_generation WHERE k = 1`).Scan(&gen); err != nil {
		return nil, fmt.Errorf("registry generation: %w", err)
	}
	if st != nil && !s.dirty.Load() && gen == st.generation {
		s.state.Store(&engineState{engine: st.engine, generation: gen, checked: time.Now()})
		return st.engine, nil
	}
	s.dirty.Store(false)
	e, err := s.build(ctx)
	if err != nil {
		s.dirty.Store(true)
		return nil, err
	}
	s.state.Store(&engineState{engine: e, generation: gen, checked: time.Now()})
	return e, nil
}

func (s *Service) build(ctx context.Context) (*Engine, error) {
	factors, err := s.factorLibrary(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, version, hash, status, effective_from, document FROM methodology_versions WHERE status IN ($1, $2, $3) ORDER BY id, version`,
		StatusApproved, StatusSuspended, StatusRetired)
	if err != nil {
		return nil, fmt.Errorf("load approved methodologies: %w", err)
	}
	defer rows.Close()
	var ms []*Methodology
	for rows.Next() {
		var id, version, hash, status, doc string
		var eff int64
		if err := rows.Scan(&id, &version, &hash, &status, &eff, &doc); err != nil {
			return nil, fmt.Errorf("load approved methodologies: %w", err)
		}
		m, err := Load(id+"@"+version, []byte(doc), factors)
		if err != nil {
			return nil, fmt.Errorf("load %s@%s: %w", id, version, err)
		}
		if m.Hash() != hash {
			return nil, opencarbon.Errorf(opencarbon.EConflict, "%s@%s: stored document hashes to %s, registry says %s", id, version, m.Hash(), hash)
		}
		m.Status, m.EffectiveFrom = status, store.Time(eff)
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load approved methodologies: %w", err)
	}
	return NewEngine(ms, factors, nil)
}
