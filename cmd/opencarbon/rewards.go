package main

import (
	"context"
	"fmt"
	"io"

	"github.com/opencarbon/opencarbon/reward"
	"github.com/opencarbon/opencarbon/webhook"
)

// wireRewards builds the reward service (and its export/erase sections)
// and the webhook deliverer into a and its server.
func (a *app) wireRewards() {
	a.rewards = reward.NewService(a.db, a.accounts)
	a.rewards.Register(a.accounts)
	a.server.Rewards = a.rewards
	if a.partners != nil {
		a.webhooks = webhook.NewDeliverer(a.db, a.partners)
		a.webhooks.Logger = a.log.With("component", "webhooks")
		a.server.Webhooks = a.webhooks
	}
}

// startWebhooks runs webhook delivery until ctx ends.
func (a *app) startWebhooks(ctx context.Context) {
	if a.webhooks == nil {
		a.log.Warn("webhook delivery not started: no partner registry")
		return
	}
	a.spawn(func() { a.webhooks.Run(ctx) })
}

// seedRewards lists the demo catalog (idempotent).
func seedRewards(ctx context.Context, a *app) error {
	if err := a.rewards.SeedDemo(ctx); err != nil {
		return fmt.Errorf("demo rewards: %w", err)
	}
	return nil
}

// printRewardsDemo shows how to browse and redeem.
func printRewardsDemo(w io.Writer, base string) {
	fmt.Fprintf(w, "\nRewards (docs/rewards.md):\n")
	fmt.Fprintf(w, "  curl %s/v1/offers\n", base)
	fmt.Fprintf(w, "  curl -X POST -H \"Authorization: Bearer $PERSON_TOKEN\" -d '{\"offer_id\":3,\"idempotency_key\":\"try-1\"}' %s/v1/me/redemptions\n", base)
	fmt.Fprintf(w, "  curl -X POST -H \"Authorization: Bearer $PERSON_TOKEN\" -d '{\"offer_id\":1,\"idempotency_key\":\"give-1\"}' %s/v1/me/donations\n", base)
	fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $PERSON_TOKEN\" %s/v1/me/vouchers\n", base)
}
