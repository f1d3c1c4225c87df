package campaign_test

import (
	"context"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/audit"
	"github.com/opencarbon/opencarbon/campaign"
	"github.com/opencarbon/opencarbon/honor"
	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/methodologies"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

// TestEndToEnd sends a real event through intake (methodology, ledger,
// outbox) and checks that the campaign score, the bonus points and the
// medals follow from the outbox alone, and that a reversal undoes the score
// and the bonus.
func TestEndToEnd(t *testing.T) {
	comps := []store.Component{partner.Migrations, account.Migrations, methodology.Migrations, webhook.Migrations,
		ledger.Migrations, audit.Migrations, intake.Migrations, campaign.Migrations, honor.Migrations}
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ps, err := partner.NewService(db, []byte("0123456789abcdef0123456789abcdef"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ps.Register(ctx, partner.Registration{ID: "eleme", Name: "eleme", Scopes: partner.AllScopes}); err != nil {
			t.Fatal(err)
		}
		accounts := account.NewService(db)
		a, _, err := accounts.Open(ctx, "e2e-person", account.OpenRequest{EntryPoint: "search", ConsentVersion: "v1", Partners: []string{"eleme"}})
		if err != nil {
			t.Fatal(err)
		}
		meth := methodology.NewService(db, methodology.DefaultQuorum)
		if err := meth.SeedApproved(ctx, methodologies.FS); err != nil {
			t.Fatal(err)
		}
		in := intake.NewService(db, meth, intake.Config{})
		t.Cleanup(in.Close)
		camps := campaign.NewService(db, campaign.NewMemBoard())
		camps.Bonus = campaign.LedgerBonus
		hon, err := honor.NewService(db, honor.Config{Key: honor.DeriveIssuerKey([]byte("k"))})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		if _, err := camps.Save(ctx, campaign.Campaign{ID: "e2e", TitleZH: "端到端", TitleEN: "End to end", TimeZone: "Asia/Shanghai",
			Start: now.Add(-24 * time.Hour).In(shanghai()).Format(campaign.LocalLayout), End: now.Add(24 * time.Hour).In(shanghai()).Format(campaign.LocalLayout),
			Regions: []campaign.Region{{Code: "ZJ"}}, BonusPercent: 100}, true); err != nil {
			t.Fatal(err)
		}
		if _, err := camps.Join(ctx, "e2e", a.ID, "ZJ", "端到端"); err != nil {
			t.Fatal(err)
		}
		var mg, points int64
		for _, id := range []string{"e2e-1", "e2e-2"} {
			out, err := in.Submit(ctx, "eleme", []intake.Event{{ID: id, Person: "e2e-person", Behavior: "eleme.no_cutlery",
				OccurredAt: time.Now().Add(-time.Minute), Params: map[string]any{"order_id": id}, Evidence: map[string]any{"cutlery_choice": "none"}}})
			if err != nil || out[0].Status != "credited" {
				t.Fatalf("submit: %v %+v", err, out)
			}
			mg += out[0].MG
			points += out[0].Points
		}
		run := func() {
			t.Helper()
			for _, f := range []struct {
				name string
				fn   func(context.Context, []webhook.Message) error
			}{{campaign.FeedName, camps.HandleMessages}, {honor.FeedName, hon.HandleMessages}} {
				feed := webhook.NewFeed(db, f.name)
				var target int64
				db.Read().QueryRowContext(ctx, `SELECT MAX(id) FROM outbox`).Scan(&target)
				deadline := time.Now().Add(15 * time.Second)
				for seen := false; !seen; {
					if time.Now().After(deadline) {
						t.Fatalf("%s: message %d never visible", f.name, target)
					}
					msgs, err := feed.Next(ctx, 100)
					if err != nil {
						t.Fatal(err)
					}
					if len(msgs) == 0 {
						time.Sleep(20 * time.Millisecond)
						continue
					}
					for _, m := range msgs {
						seen = seen || m.ID == target
					}
					if err := f.fn(ctx, msgs); err != nil {
						t.Fatal(err)
					}
					if err := feed.Ack(ctx, msgs[len(msgs)-1]); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		run()
		lb, err := camps.Leaderboard(ctx, "e2e", "ZJ", 10, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if mg == 0 || lb.Me.ScoreMG != mg || lb.Me.Rank != 1 || lb.Top[0].Name != "端到端" {
			t.Fatalf("board %+v me %+v, want score %d", lb.Top, lb.Me, mg)
		}
		bal, err := ledger.NewService(db, 0).Balance(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if bal.MG != mg || bal.Points != 2*points {
			t.Fatalf("balance mg %d points %d, want %d and %d (credit + 100%% bonus)", bal.MG, bal.Points, mg, 2*points)
		}
		ms, err := hon.Medals(ctx, a.ID)
		if err != nil || len(ms) == 0 {
			t.Fatalf("medals %v %v", ms, err)
		}
		if _, err := in.Reverse(ctx, "eleme", "e2e-1", "refund"); err != nil {
			t.Fatal(err)
		}
		run()
		lb, _ = camps.Leaderboard(ctx, "e2e", "ZJ", 10, a.ID)
		bal, _ = ledger.NewService(db, 0).Balance(ctx, a.ID)
		if lb.Me.ScoreMG >= mg || lb.Me.ScoreMG <= 0 || bal.MG != lb.Me.ScoreMG {
			t.Fatalf("after reversal: board %d, ledger mg %d (before %d)", lb.Me.ScoreMG, bal.MG, mg)
		}
	})
}

func shanghai() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}
