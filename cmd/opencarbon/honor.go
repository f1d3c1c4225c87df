package main

import (
	"context"
	"fmt"
	"time"

	"github.com/opencarbon/opencarbon/campaign"
	"github.com/opencarbon/opencarbon/honor"
)

// wireHonor builds Carbon Bao and medals: the credential key is derived
// from the secret key, campaign-only medals come from the campaigns, and
// GET /v1/me/account gains "bao" and "medals". Without a secret key
// (migrate on PostgreSQL) honor is not loaded.
func (a *app) wireHonor() error {
	if a.secretKey == nil {
		a.log.Warn("honor not loaded: no secret key")
		return nil
	}
	levels := honor.BaoLevels(honor.DefaultBaoLevels)
	if a.cfg.BaoLevels != "" {
		var err error
		if levels, err = honor.ParseBaoLevels(a.cfg.BaoLevels); err != nil {
			return fmt.Errorf("--bao-levels: %w", err)
		}
	}
	h, err := honor.NewService(a.db, honor.Config{
		Levels: levels,
		Key:    honor.DeriveIssuerKey(a.secretKey),
		MG: func(ctx context.Context, account int64) (int64, error) {
			if a.ledger == nil {
				return 0, nil
			}
			b, err := a.ledger.Balance(ctx, account)
			return b.MG, err
		},
	})
	if err != nil {
		return err
	}
	a.honor = h
	if a.campaigns != nil {
		a.campaigns.CheckMedal = h.CheckRule
		h.AddMedalSource(func(ctx context.Context) ([]honor.Medal, error) { return campaignMedals(ctx, a.campaigns) })
	}
	a.accounts.AddExporter("honor", h.Export)
	a.server.Honor = h
	a.server.AccountExtras = append(a.server.AccountExtras, h.BaoExtra, h.MedalsExtra)
	return nil
}

// campaignMedals lists every campaign's own medals for honor.
func campaignMedals(ctx context.Context, cs *campaign.Service) ([]honor.Medal, error) {
	list, err := cs.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []honor.Medal
	for _, c := range list {
		for _, m := range c.Medals {
			out = append(out, honor.Medal{ID: m.ID, NameZH: m.NameZH, NameEN: m.NameEN, Artwork: m.Artwork, Rule: m.Rule, Campaign: c.ID})
		}
	}
	return out, nil
}

// startHonor runs the medal checker until ctx ends.
func (a *app) startHonor(ctx context.Context) {
	if a.honor != nil {
		a.spawn(func() { a.honor.Run(ctx, 200*time.Millisecond) })
	}
}
