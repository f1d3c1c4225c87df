package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/audit"
	"github.com/opencarbon/opencarbon/campaign"
	"github.com/opencarbon/opencarbon/honor"
	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/reward"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/web"
	"github.com/opencarbon/opencarbon/webhook"
)

// components lists every capability's migrations in dependency order.
func components() []store.Component {
	return []store.Component{
		partner.Migrations,
		account.Migrations,
		// -- components --
		methodology.Migrations,
		campaign.Migrations,
		honor.Migrations,
		webhook.Migrations,
		reward.Migrations,
		ledger.Migrations,
		audit.Migrations,
		intake.Migrations,
	}
}

// app is the wired system: the database and every domain service.
type app struct {
	cfg     *config
	log     *slog.Logger
	db      *store.DB
	server  *web.Server
	workers sync.WaitGroup // background workers (start), waited for before close
	// -- app services --
	methodology *methodology.Service // registry and review workflow (methodologies.go)
	campaigns   *campaign.Service    // campaigns and leaderboards (leaderboard.go)
	honor       *honor.Service       // Carbon Bao and medals (honor.go); nil without a secret key
	redis       *redis.Client        // shared leaderboards; nil keeps them in process

	rewards  *reward.Service    // catalog, redemptions, vouchers (rewards.go)
	webhooks *webhook.Deliverer // webhook delivery; nil without partner registry

	ledger    *ledger.Service  // balances, lots, expiry, check (check.go)
	intake    *intake.Service  // event intake (intake.go)
	secretKey []byte           // encrypts partner secrets; see keys.go
	partners  *partner.Service // nil when no secret key (migrate on PostgreSQL)
	accounts  *account.Service
}

func newLogger(format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// openApp opens and migrates the database and builds the services.
func openApp(ctx context.Context, cfg *config) (*app, error) {
	log := newLogger(cfg.LogFormat)
	slog.SetDefault(log)
	db, err := store.Open(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, components()...); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	a := &app{cfg: cfg, log: log, db: db}
	a.server = &web.Server{DB: db, Logger: log, AdminToken: cfg.AdminToken, Demo: cfg.Demo, PublicURL: cfg.PublicURL}
	if err := a.wireAccounts(); err != nil {
		db.Close()
		return nil, err
	}
	// -- wire services --
	if err := a.wireCampaigns(); err != nil {
		db.Close()
		return nil, err
	}
	if err := a.wireHonor(); err != nil {
		db.Close()
		return nil, err
	}
	a.wireRewards()
	a.wireLedger()
	a.wireMethodology()
	a.server.Ledger = a.ledger // the UI reads balances and expiring points
	a.wireIntake()
	return a, nil
}

// start launches background workers (outbox delivery, expiry, leaderboard
// feeds); they stop when ctx ends.
func (a *app) start(ctx context.Context) {
	// -- start workers --
	a.spawn(func() { a.server.RunDashboard(ctx, time.Second) }) // console dashboard counts from the outbox
	a.startCampaigns(ctx)
	a.startHonor(ctx)
	a.startWebhooks(ctx)
	a.spawn(func() { a.ledger.RunExpiry(ctx, time.Hour) }) // hourly: expired points stay spendable at most an hour
	// hourly: drop outbox messages every consumer acked more than a day ago
	a.spawn(func() {
		webhook.RunPrune(ctx, a.db, time.Hour, webhook.DefaultRetention, func(err error) { a.log.Error("outbox prune", "err", err) },
			webhook.FeedName, campaign.FeedName, honor.FeedName, web.DashboardFeed)
	})
}

// spawn runs fn as a background worker that waitWorkers waits for.
func (a *app) spawn(fn func()) {
	a.workers.Add(1)
	go func() {
		defer a.workers.Done()
		fn()
	}()
}

// waitWorkers waits up to timeout for the workers, whose context has been
// cancelled, to return, so that none is still using the database when it
// closes; it reports whether they all did.
func (a *app) waitWorkers(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() {
		a.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (a *app) close() {
	// -- close services --
	if a.redis != nil {
		a.redis.Close()
	}
	if a.intake != nil {
		a.intake.Close()
	}
	a.db.Close()
}
