package main

import (
	"context"
	"fmt"

	"github.com/opencarbon/opencarbon/methodologies"
	"github.com/opencarbon/opencarbon/methodology"
)

// wireMethodology builds the methodology registry and review workflow; the
// intake evaluates events with its approved versions.
func (a *app) wireMethodology() {
	a.methodology = methodology.NewService(a.db, a.cfg.Quorum)
	a.server.Methodologies = a.methodology
}

// seedMethodologies loads the shipped factors and methodologies and takes
// each through the real review workflow (two demo reviewers) to approval.
func seedMethodologies(ctx context.Context, a *app) error {
	if err := a.methodology.SeedApproved(ctx, methodologies.FS); err != nil {
		return fmt.Errorf("demo methodologies: %w", err)
	}
	return nil
}
