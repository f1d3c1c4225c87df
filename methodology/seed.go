package methodology

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	opencarbon "github.com/opencarbon/opencarbon"
)

// Demo reviewer accounts created by SeedApproved.
const (
	DemoAuthor         = "demo-author"
	DemoReviewerPrefix = "demo-reviewer-"
)

// SeedApproved loads the factors and methodologies of fsys (factors.yaml
// and documents, see LoadFS), stores the factors, and takes every document
// through the real workflow: created by the demo author, submitted,
// approved by as many demo reviewers as the quorum needs (recorded review
// rows), then approved effective from the Unix epoch. Versions already
// approved with the same hash are skipped, so it is safe to run at every
// start; the same version with other content is refused (EImmutable).
func (s *Service) SeedApproved(ctx context.Context, fsys fs.FS) error {
	ms, factors, err := LoadFS(fsys)
	if err != nil {
		return fmt.Errorf("seed methodologies: %w", err)
	}
	for _, f := range factors.All() {
		if err := s.PutFactor(ctx, f); err != nil {
			return fmt.Errorf("seed factor %s: %w", f.Ref(), err)
		}
	}
	author, err := s.demoReviewer(ctx, DemoAuthor, "Demo author", RoleAuthor)
	if err != nil {
		return err
	}
	reviewers := make([]*Reviewer, s.quorum)
	for i := range reviewers {
		id := fmt.Sprintf("%s%d", DemoReviewerPrefix, i+1)
		if reviewers[i], err = s.demoReviewer(ctx, id, fmt.Sprintf("Demo reviewer %d", i+1), RoleReviewer); err != nil {
			return err
		}
	}
	for _, m := range ms {
		if err := s.seedOne(ctx, m, author, reviewers); err != nil {
			return fmt.Errorf("seed %s@%s: %w", m.ID(), m.Version(), err)
		}
	}
	return nil
}

func (s *Service) seedOne(ctx context.Context, m *Methodology, author *Reviewer, reviewers []*Reviewer) error {
	id, version := m.ID(), m.Version()
	v, err := s.Get(ctx, id, version)
	switch {
	case err == nil && v.Status != StatusDraft && v.Status != StatusInReview:
		if v.Hash != m.Hash() {
			return opencarbon.Errorf(opencarbon.EImmutable, "the registry holds other content for this version (%s, hash %s); bump the version", v.Status, v.Hash)
		}
		return nil
	case err == nil && v.Status == StatusInReview:
		if err := s.Withdraw(ctx, author, id, version); err != nil {
			return err
		}
	case err != nil && opencarbon.ErrorCode(err) != opencarbon.ENotFound:
		return err
	}
	src := m.Canonical()
	if _, err := s.Create(ctx, author, src); err != nil {
		return err
	}
	if err := s.Submit(ctx, author, id, version); err != nil {
		return err
	}
	for _, r := range reviewers {
		err := s.Review(ctx, r, id, version, "approve", "demo seed: shipped methodology, sources and test vectors checked")
		if err != nil && opencarbon.ErrorCode(err) != opencarbon.EConflict {
			return err
		}
	}
	return s.Approve(ctx, reviewers[0], id, version, time.Unix(0, 0).UTC())
}

func (s *Service) demoReviewer(ctx context.Context, id, name, role string) (*Reviewer, error) {
	r, err := s.FindReviewerByID(ctx, id)
	if err == nil {
		return r, nil
	}
	if opencarbon.ErrorCode(err) != opencarbon.ENotFound {
		return nil, err
	}
	r, _, err = s.CreateReviewer(ctx, id, name, []string{role})
	if opencarbon.ErrorCode(err) == opencarbon.EConflict {
		return s.FindReviewerByID(ctx, id)
	}
	return r, err
}
