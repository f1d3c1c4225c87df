package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/campaign"
)

// redisKeyPrefix prefixes every leaderboard key in Redis.
const redisKeyPrefix = "oc:"

// wireCampaigns builds the campaign service on the in-process board, or on
// Redis when --redis is set, and hands campaign bonuses to the ledger.
func (a *app) wireCampaigns() error {
	var board campaign.Board = campaign.NewMemBoard()
	if a.cfg.Redis != "" {
		opt, err := redis.ParseURL(a.cfg.Redis)
		if err != nil {
			return fmt.Errorf("--redis: %w", err)
		}
		a.redis = redis.NewClient(opt)
		board = campaign.NewRedisBoard(a.redis, redisKeyPrefix)
	}
	a.campaigns = campaign.NewService(a.db, board)
	a.campaigns.Bonus = campaign.LedgerBonus
	a.accounts.AddEraser(campaign.EraseTx)
	a.accounts.AddExporter("campaigns", func(ctx context.Context, id int64) (any, error) { return a.campaigns.Memberships(ctx, id) })
	a.server.Campaigns = a.campaigns
	return nil
}

// startCampaigns keeps scores current from the outbox, builds the boards
// from the database, and rebuilds any board Redis lost, every minute.
func (a *app) startCampaigns(ctx context.Context) {
	log := a.log.With("component", "leaderboard")
	sync := func() {
		if n, err := a.campaigns.Sync(ctx); err != nil {
			log.Error("board sync", "err", err)
		} else if n > 0 {
			log.Info("boards built from the database", "boards", n)
		}
	}
	// Boards build in the background, so a large board does not delay
	// serving (it fills within seconds); the consumer runs meanwhile, which
	// is safe because every board update carries its row's version.
	a.spawn(func() { a.campaigns.Run(ctx, 100*time.Millisecond) })
	a.spawn(func() {
		sync()
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				sync()
			}
		}
	})
}

// seedCampaigns creates the demo campaigns and joins the demo people to the
// live one, one region each (idempotent).
func seedCampaigns(ctx context.Context, a *app) error {
	var members []campaign.DemoMember
	for i, p := range account.DemoPeople {
		id, err := a.accounts.AccountID(ctx, p.Person)
		if err != nil {
			continue // not opened: not joined
		}
		members = append(members, campaign.DemoMember{Account: id, Region: campaign.DemoRegions[i%len(campaign.DemoRegions)].Code, DisplayName: p.Name})
	}
	if err := a.campaigns.SeedDemo(ctx, time.Now(), members); err != nil {
		return fmt.Errorf("demo campaigns: %w", err)
	}
	return nil
}

// printCampaignsDemo shows the campaign calls.
func printCampaignsDemo(w io.Writer, base string) {
	fmt.Fprintf(w, "\nCampaigns and medals (docs/campaigns.md, docs/honor.md):\n")
	fmt.Fprintf(w, "  curl %s/v1/campaigns\n", base)
	fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $PERSON_TOKEN\" %s/v1/campaigns/88week-now/leaderboards/BJ?limit=10\n", base)
	fmt.Fprintf(w, "  curl -X POST -H \"Authorization: Bearer $PERSON_TOKEN\" -d '{\"region\":\"GD\",\"display_name\":\"Ming\"}' %s/v1/me/campaigns/88week-now/join\n", base)
	fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $PERSON_TOKEN\" %s/v1/me/medals\n", base)
	fmt.Fprintf(w, "  curl %s/.well-known/opencarbon-issuer.json\n", base)
}

// leaderboardCmd is "opencarbon leaderboard rebuild --campaign ID [--region R]":
// it recomputes scores from the journal of counted credits, rebuilds the
// board(s) and reports the drift it found.
func leaderboardCmd(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "rebuild" {
		return fmt.Errorf("usage: opencarbon leaderboard rebuild --campaign ID [--region R] [--redis URL]")
	}
	fs, cfg := newConfigFlags("leaderboard rebuild", false)
	id := fs.String("campaign", "", "campaign id (required)")
	region := fs.String("region", "", "one region code; default every region of the campaign")
	fs.StringVar(&cfg.Redis, "redis", env("REDIS", ""), "redis://host:port of the shared boards; empty rebuilds nothing but reports score drift (OPENCARBON_REDIS)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *id == "" {
		fs.Usage()
		return flag.ErrHelp
	}
	a, err := openApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.close()
	ds, err := a.campaigns.Rebuild(ctx, *id, *region)
	if err != nil {
		return err
	}
	drift := 0
	for _, d := range ds {
		if a.cfg.Redis == "" {
			// The command's own in-process board starts empty: only the
			// score rows can be compared.
			fmt.Printf("%-24s members %d  score drift %d\n", d.Board, d.Members, d.ScoreDrift)
			drift += d.ScoreDrift
			continue
		}
		fmt.Printf("%-24s members %d  score drift %d  board: missing %d, extra %d, wrong %d\n",
			d.Board, d.Members, d.ScoreDrift, d.BoardMissing, d.BoardExtra, d.BoardWrong)
		drift += d.ScoreDrift + d.BoardMissing + d.BoardExtra + d.BoardWrong
	}
	if drift > 0 {
		fmt.Printf("repaired %d differences\n", drift)
	} else {
		fmt.Println("no drift")
	}
	if a.cfg.Redis == "" {
		fmt.Println("(in-process boards live in the server; it rebuilds them from the database at start)")
	}
	return nil
}
