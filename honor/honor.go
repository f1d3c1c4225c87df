// Package honor is what a person earns besides points: Carbon Bao (碳宝),
// the mascot whose level follows cumulative reduction, and rule-based
// medals, exportable as signed Open Badges 3.0 credentials.
//
// Medals are awarded off the hot path by an outbox consumer
// (HandleMessages). It keeps no copy of the credits: a message only names
// an account to look at again, and the account's stats are derived from
// the credits the intake keeps (intake.Activity), read on the read pool,
// so the writer transaction writes only new medals (rare), a medal.awarded
// message each, campaign joins and streak records. A replayed message
// changes nothing, and a medal is awarded at most once per account (a
// unique key).
//
// It must never read or change balances or points (levels follow mg, never
// spendable points, so spending never shrinks Carbon Bao), never take a
// medal back (a reversal lowers the stats, not past awards), never put a
// raw person id in a credential (the subject is a salted hash), and never
// read another package's tables but through that package's functions.
package honor

import (
	"context"
	"crypto/ed25519"
	"embed"
	"errors"
	"fmt"
	"sync"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the honor schema.
var Migrations = store.Component{Name: "honor", FS: migrations, Dir: "migrations"}

// FeedName is the outbox consumer name of the medal checker.
const FeedName = "medals"

// MedalSource returns extra medals at evaluation time (campaign-only
// medals defined with campaigns).
type MedalSource func(ctx context.Context) ([]Medal, error)

// Config configures a Service.
type Config struct {
	Levels BaoLevels // nil: DefaultBaoLevels
	Medals []Medal   // nil: DefaultMedals
	// Key signs credentials (see DeriveIssuerKey).
	Key ed25519.PrivateKey
	// IssuerName is the issuer profile's name; default "OpenCarbon".
	IssuerName string
	// MG returns an account's cumulative reduction for Carbon Bao (the
	// ledger's mg balance); nil uses the intake's credits
	// (intake.Activity), which add up to the same.
	MG func(ctx context.Context, account int64) (int64, error)
}

// Service derives stats, awards medals and issues credentials. It is safe
// for concurrent use.
type Service struct {
	db     *store.DB
	cfg    Config
	rules  *rules
	medals []Medal

	mu      sync.RWMutex
	sources []MedalSource
}

// NewService returns the honor service. Errors: EInvalid (a bad level
// table or medal rule), or a missing key.
func NewService(db *store.DB, cfg Config) (*Service, error) {
	if cfg.Levels == nil {
		cfg.Levels = BaoLevels(DefaultBaoLevels)
	}
	if _, err := NewBaoLevels(cfg.Levels); err != nil {
		return nil, err
	}
	if cfg.Medals == nil {
		cfg.Medals = DefaultMedals
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("honor: an Ed25519 issuer key is required")
	}
	if cfg.IssuerName == "" {
		cfg.IssuerName = "OpenCarbon"
	}
	r, err := newRules()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, m := range cfg.Medals {
		if err := r.checkMedal(m); err != nil {
			return nil, err
		}
		if seen[m.ID] {
			return nil, oc.Errorf(oc.EInvalid, "medal %s defined twice", m.ID)
		}
		seen[m.ID] = true
	}
	return &Service{db: db, cfg: cfg, rules: r, medals: cfg.Medals}, nil
}

// AddMedalSource adds a source of extra medals (call while wiring).
func (s *Service) AddMedalSource(src MedalSource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sources = append(s.sources, src)
}

// CheckRule validates a medal rule (compiles it). Errors: EInvalid.
func (s *Service) CheckRule(rule string) error {
	_, err := s.rules.compile(rule)
	return err
}

// Catalog returns every medal: the platform's and those of the sources.
// A source medal whose id or rule is invalid, or whose id repeats an
// earlier one, is left out.
func (s *Service) Catalog(ctx context.Context) ([]Medal, error) {
	s.mu.RLock()
	sources := append([]MedalSource(nil), s.sources...)
	s.mu.RUnlock()
	out := append([]Medal(nil), s.medals...)
	seen := map[string]bool{}
	for _, m := range out {
		seen[m.ID] = true
	}
	for _, src := range sources {
		ms, err := src(ctx)
		if err != nil {
			return nil, fmt.Errorf("medal source: %w", err)
		}
		for _, m := range ms {
			if seen[m.ID] || s.rules.checkMedal(m) != nil {
				continue
			}
			seen[m.ID] = true
			out = append(out, m)
		}
	}
	return out, nil
}

// Bao returns account's Carbon Bao.
func (s *Service) Bao(ctx context.Context, account int64) (Bao, error) {
	var mg int64
	if s.cfg.MG != nil {
		v, err := s.cfg.MG(ctx, account)
		if err != nil {
			return Bao{}, err
		}
		mg = v
	} else {
		act, err := intake.Activity(ctx, s.db, []int64{account})
		if err != nil {
			return Bao{}, fmt.Errorf("bao: %w", err)
		}
		mg = act[account].MG
	}
	return s.cfg.Levels.Level(mg), nil
}

// Levels returns the Carbon Bao level table.
func (s *Service) Levels() BaoLevels { return s.cfg.Levels }

// Award is a medal a person holds.
type Award struct {
	Medal
	AwardedAt time.Time `json:"awarded_at"`
}

// Medals returns account's medals, oldest first. A medal no longer in the
// catalog is still listed by id.
func (s *Service) Medals(ctx context.Context, account int64) ([]Award, error) {
	cat, err := s.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]Medal{}
	for _, m := range cat {
		byID[m.ID] = m
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT medal_id, awarded_at FROM honor_medals WHERE account_id = $1 ORDER BY awarded_at, medal_id`, account)
	if err != nil {
		return nil, fmt.Errorf("medals: %w", err)
	}
	defer rows.Close()
	out := []Award{}
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, fmt.Errorf("medals: %w", err)
		}
		m, ok := byID[id]
		if !ok {
			m = Medal{ID: id, NameZH: id, NameEN: id}
		}
		m.Rule = "" // rules are configuration, not part of what a person holds
		out = append(out, Award{Medal: m, AwardedAt: store.Time(at)})
	}
	return out, rows.Err()
}

// Stats returns account's aggregates, derived from its credits as they
// are now (see Medal for each field).
func (s *Service) Stats(ctx context.Context, account int64) (Stats, error) {
	by, err := s.standings(ctx, []int64{account})
	if err != nil {
		return Stats{}, err
	}
	return by[account].st, nil
}

// Export returns account's stats and medals, for the person's export.
func (s *Service) Export(ctx context.Context, account int64) (any, error) {
	st, err := s.Stats(ctx, account)
	if err != nil {
		return nil, err
	}
	ms, err := s.Medals(ctx, account)
	if err != nil {
		return nil, err
	}
	b, err := s.Bao(ctx, account)
	if err != nil {
		return nil, err
	}
	return map[string]any{"stats": st, "medals": ms, "bao": b}, nil
}

// BaoExtra is the "bao" key of GET /v1/me/account (a web.Server
// AccountExtras function).
func (s *Service) BaoExtra(ctx context.Context, account int64) (string, any, error) {
	b, err := s.Bao(ctx, account)
	return "bao", b, err
}

// MedalsExtra is the "medals" key of GET /v1/me/account.
func (s *Service) MedalsExtra(ctx context.Context, account int64) (string, any, error) {
	ms, err := s.Medals(ctx, account)
	return "medals", ms, err
}
