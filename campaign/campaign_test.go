package campaign

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/webhook"
)

var comps = []store.Component{partner.Migrations, webhook.Migrations, Migrations}

var shanghai = mustLoc("Asia/Shanghai")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// sh returns a time in Asia/Shanghai.
func sh(y int, m time.Month, d, hh, mm, ss, us int) time.Time {
	return time.Date(y, m, d, hh, mm, ss, us*1000, shanghai)
}

// clock lets a test move the database's "now".
type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) set(t time.Time) { c.t.Store(&t) }
func (c *clock) now() time.Time  { return c.t.Load().UTC() }

func setup(t *testing.T, db *store.DB, board Board) (*Service, *clock) {
	t.Helper()
	c := &clock{}
	c.set(sh(2022, 8, 1, 12, 0, 0, 0))
	db.Now = c.now
	s := NewService(db, board)
	if _, err := s.Save(context.Background(), week2022(), true); err != nil {
		t.Fatal(err)
	}
	return s, c
}

func week2022() Campaign {
	return Campaign{ID: "88week-2022", TitleZH: "减碳周", TitleEN: "Reduction Week", TimeZone: "Asia/Shanghai",
		Start: "2022-08-08T00:00", End: "2022-08-18T23:59", Regions: []Region{{Code: "GD"}, {Code: "BJ"}, {Code: "ZJ"}}}
}

var refN atomic.Int64

// credit enqueues a credit.created message and returns its ref.
func credit(t *testing.T, db *store.DB, account, mg int64, occurred, credited time.Time) string {
	t.Helper()
	ref := fmt.Sprintf("evt:eleme:e%d", refN.Add(1))
	b := webhook.CreditBody{Ref: ref, EventID: ref, Partner: "eleme", Account: account, Sub: account * 10, Behavior: "eleme.no_cutlery",
		Scenario: "food_delivery", MG: mg, Points: mg / 1000, OccurredAt: occurred, CreditedAt: credited}
	must(t, db.InTx(context.Background(), func(tx *store.Tx) error {
		return webhook.EnqueueTx(context.Background(), tx, webhook.TopicCreditCreated, "eleme", account, b)
	}))
	return ref
}

func reverse(t *testing.T, db *store.DB, account, mg int64, ref string, at time.Time) {
	t.Helper()
	b := webhook.CreditBody{Ref: ref, Partner: "eleme", Account: account, Sub: account * 10, MG: mg, ReversedAt: at}
	must(t, db.InTx(context.Background(), func(tx *store.Tx) error {
		return webhook.EnqueueTx(context.Background(), tx, webhook.TopicCreditReversed, "eleme", account, b)
	}))
}

// drain feeds every pending outbox message to s (as the Run loop would).
// On PostgreSQL a message becomes visible to feeds only once every older
// transaction in the cluster has ended, so it waits for the newest one.
func drain(t *testing.T, db *store.DB, s *Service, feed string) {
	t.Helper()
	ctx := context.Background()
	f := webhook.NewFeed(db, feed)
	var target int64
	must(t, db.Read().QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM outbox`).Scan(&target))
	deadline := time.Now().Add(15 * time.Second)
	seen := false
	for {
		msgs, err := f.Next(ctx, 100)
		must(t, err)
		if len(msgs) == 0 {
			var cur int64
			db.Read().QueryRowContext(ctx, `SELECT last_id FROM outbox_cursors WHERE consumer = $1`, feed).Scan(&cur)
			if seen || cur >= target || target == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("outbox message %d never became visible", target)
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		for _, m := range msgs {
			seen = seen || m.ID == target
		}
		must(t, s.HandleMessages(ctx, msgs))
		must(t, f.Ack(ctx, msgs[len(msgs)-1]))
	}
}

func scoreOf(t *testing.T, s *Service, account int64) int64 {
	t.Helper()
	m, err := s.Member(context.Background(), "88week-2022", account)
	must(t, err)
	return m.Score
}

func code(err error) string { return oc.ErrorCode(err) }

func TestSave(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := setup(t, db, NewMemBoard())
		bad := []struct {
			name string
			edit func(c *Campaign)
		}{
			{"ErrBadRegion", func(c *Campaign) { c.Regions = []Region{{Code: "XX"}} }},
			{"ErrDuplicateRegion", func(c *Campaign) { c.Regions = []Region{{Code: "GD"}, {Code: "gd"}} }},
			{"ErrBadZone", func(c *Campaign) { c.TimeZone = "Mars/Olympus" }},
			{"ErrEndBeforeStart", func(c *Campaign) { c.End = "2022-08-01T00:00" }},
			{"ErrBadLocalTime", func(c *Campaign) { c.Start = "2022-08-08 00:00:00" }},
			{"ErrControlInTitle", func(c *Campaign) { c.TitleEN = "week\u202e" }},
			{"ErrUnknownPartner", func(c *Campaign) { c.Regions = []Region{{Code: "GD", Partner: "nope"}} }},
			{"ErrBonus", func(c *Campaign) { c.BonusPercent = -1 }},
			{"ErrBadID", func(c *Campaign) { c.ID = "Bad ID" }},
		}
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				c := week2022()
				c.ID = "other"
				tc.edit(&c)
				if _, err := s.Save(ctx, c, true); code(err) != oc.EInvalid {
					t.Fatalf("err = %v, want invalid", err)
				}
			})
		}
		t.Run("WindowEdges", func(t *testing.T) {
			c, err := s.Get(ctx, "88week-2022")
			must(t, err)
			if !c.StartAt.Equal(sh(2022, 8, 8, 0, 0, 0, 0)) || !c.EndAt.Equal(sh(2022, 8, 19, 0, 0, 0, 0)) {
				t.Fatalf("window %v..%v", c.StartAt, c.EndAt)
			}
			if c.Status != StatusUpcoming {
				t.Fatalf("status %s", c.Status)
			}
		})
		t.Run("ErrConflict", func(t *testing.T) {
			if _, err := s.Save(ctx, week2022(), true); code(err) != oc.EConflict {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("ErrImmutableAfterStart", func(t *testing.T) {
			clk.set(sh(2022, 8, 9, 0, 0, 0, 0))
			c := week2022()
			c.Regions = []Region{{Code: "GD"}}
			if _, err := s.Save(ctx, c, false); code(err) != oc.EImmutable {
				t.Fatalf("err = %v", err)
			}
			c = week2022()
			c.TitleEN = "Renamed"
			if _, err := s.Save(ctx, c, false); err != nil {
				t.Fatal(err)
			}
			live, _ := s.List(ctx, StatusLive)
			if len(live) != 1 || live[0].TitleEN != "Renamed" {
				t.Fatalf("live = %+v", live)
			}
		})
	})
}

func TestJoinRules(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := setup(t, db, NewMemBoard())
		t.Run("OK", func(t *testing.T) {
			m, err := s.Join(ctx, "88week-2022", 1, "gd", "Xiaoming")
			must(t, err)
			if m.Region != "GD" || m.DisplayName != "Xiaoming" {
				t.Fatalf("member %+v", m)
			}
		})
		t.Run("ErrNotEligible", func(t *testing.T) {
			if _, err := s.Join(ctx, "88week-2022", 2, "SC", ""); code(err) != oc.ENotEligible {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			if _, err := s.Join(ctx, "nope", 2, "GD", ""); code(err) != oc.ENotFound {
				t.Fatalf("err = %v", err)
			}
		})
		for _, name := range []string{"", " pad", "a\x00b", "rtl\u202eevil", "<script>", string(make([]rune, 25))} {
			if name == "" {
				continue
			}
			t.Run("ErrDisplayName", func(t *testing.T) {
				if _, err := s.Join(ctx, "88week-2022", 3, "GD", name); code(err) != oc.EInvalid {
					t.Fatalf("%q: err = %v", name, err)
				}
			})
		}
		t.Run("RegionChangeBeforeStart", func(t *testing.T) {
			m, err := s.Join(ctx, "88week-2022", 1, "BJ", "")
			must(t, err)
			if m.Region != "BJ" || m.DisplayName != "Xiaoming" {
				t.Fatalf("member %+v", m)
			}
		})
		t.Run("ErrRegionLocked", func(t *testing.T) {
			clk.set(sh(2022, 8, 10, 0, 0, 0, 0))
			if _, err := s.Join(ctx, "88week-2022", 1, "GD", ""); code(err) != oc.ERegionLocked {
				t.Fatalf("err = %v", err)
			}
			if _, err := s.Join(ctx, "88week-2022", 1, "BJ", "Ming"); err != nil {
				t.Fatalf("same region again: %v", err)
			}
		})
		t.Run("ErrCampaignClosed", func(t *testing.T) {
			clk.set(sh(2022, 8, 19, 0, 0, 0, 0))
			if _, err := s.Join(ctx, "88week-2022", 4, "GD", ""); code(err) != oc.ECampaignClosed {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("JoinedMessageOnce", func(t *testing.T) {
			var n int
			must(t, db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE topic = $1`, TopicJoined).Scan(&n))
			if n != 1 {
				t.Fatalf("%d campaign.joined messages, want 1", n)
			}
		})
	})
}

func TestScores(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := setup(t, db, NewMemBoard())
		for acc := int64(1); acc <= 4; acc++ {
			_, err := s.Join(ctx, "88week-2022", acc, "GD", "")
			must(t, err)
		}
		t.Run("WindowEdgesInShanghai", func(t *testing.T) {
			before := sh(2022, 8, 7, 23, 59, 59, 999999)
			first := sh(2022, 8, 8, 0, 0, 0, 0)
			last := sh(2022, 8, 18, 23, 59, 59, 999999)
			after := sh(2022, 8, 19, 0, 0, 0, 0)
			credit(t, db, 1, 1, before, before)
			credit(t, db, 1, 10, first, first)
			credit(t, db, 1, 100, last, last)
			credit(t, db, 1, 1000, after, after)
			credit(t, db, 1, 10000, before, first) // occurred before the window
			credit(t, db, 1, 100000, last, after)  // credited after the window
			drain(t, db, s, FeedName)
			if got := scoreOf(t, s, 1); got != 110 {
				t.Fatalf("score = %d, want 110 (first and last minute only)", got)
			}
		})
		t.Run("NotJoinedNeverCounts", func(t *testing.T) {
			credit(t, db, 99, 5000, sh(2022, 8, 9, 9, 0, 0, 0), sh(2022, 8, 9, 9, 0, 0, 0))
			drain(t, db, s, FeedName)
			lb, err := s.Leaderboard(ctx, "88week-2022", "GD", 10, 99)
			must(t, err)
			if lb.Me.Joined || lb.Me.Rank != 0 || len(lb.Top) != 1 {
				t.Fatalf("leaderboard %+v me %+v", lb.Top, lb.Me)
			}
		})
		t.Run("OnlyAfterJoining", func(t *testing.T) {
			clk.set(sh(2022, 8, 10, 12, 0, 0, 0))
			_, err := s.Join(ctx, "88week-2022", 5, "GD", "Late")
			must(t, err)
			credit(t, db, 5, 7, sh(2022, 8, 10, 11, 0, 0, 0), sh(2022, 8, 10, 11, 59, 0, 0))
			credit(t, db, 5, 70, sh(2022, 8, 10, 12, 0, 0, 0), sh(2022, 8, 10, 12, 0, 1, 0))
			drain(t, db, s, FeedName)
			if got := scoreOf(t, s, 5); got != 70 {
				t.Fatalf("score = %d, want 70", got)
			}
		})
		t.Run("TiesByReachedFirst", func(t *testing.T) {
			credit(t, db, 3, 110, sh(2022, 8, 11, 9, 0, 0, 0), sh(2022, 8, 11, 9, 0, 0, 0))
			credit(t, db, 2, 110, sh(2022, 8, 11, 8, 0, 0, 0), sh(2022, 8, 11, 8, 0, 0, 0))
			drain(t, db, s, FeedName)
			lb, err := s.Leaderboard(ctx, "88week-2022", "GD", 10, 3)
			must(t, err)
			// 1 reached 110 on the 18th; 2 on the 11th at 08:00; 3 at 09:00.
			want := []string{MaskedName("88week-2022", 2), MaskedName("88week-2022", 3), MaskedName("88week-2022", 1), "Late"}
			for i, r := range lb.Top {
				if r.Name != want[i] || r.Masked != (i < 3) {
					t.Fatalf("rank %d = %+v, want %s", i+1, r, want[i])
				}
			}
			if lb.Me.Rank != 2 || lb.Me.ScoreMG != 110 {
				t.Fatalf("me = %+v", lb.Me)
			}
		})
		t.Run("OwnRankBelowTheTop", func(t *testing.T) {
			lb, err := s.Leaderboard(ctx, "88week-2022", "GD", 1, 1)
			must(t, err)
			if len(lb.Top) != 1 || lb.Top[0].Name != MaskedName("88week-2022", 2) || lb.Members != 4 {
				t.Fatalf("top = %+v members %d", lb.Top, lb.Members)
			}
			if !lb.Me.Joined || !lb.Me.Visible || lb.Me.Rank != 3 || lb.Me.ScoreMG != 110 || lb.Me.Region != "GD" {
				t.Fatalf("me = %+v, want rank 3 with 110 mg", lb.Me)
			}
			lb, err = s.Leaderboard(ctx, "88week-2022", "BJ", 1, 1) // own board is GD
			must(t, err)
			if lb.Me.Rank != 0 || !lb.Me.Joined || lb.Me.Region != "GD" || len(lb.Top) != 0 || lb.Members != 0 {
				t.Fatalf("other region: me = %+v top %+v", lb.Me, lb.Top)
			}
			if _, err := s.Leaderboard(ctx, "nope", "GD", 1, 1); code(err) != oc.ENotFound {
				t.Fatalf("unknown campaign: %v", err)
			}
			if _, err := s.Leaderboard(ctx, "88week-2022", "SC", 1, 1); code(err) != oc.ENotEligible {
				t.Fatalf("region outside the campaign: %v", err)
			}
			lb, err = s.Leaderboard(ctx, "88week-2022", "GD", 1, -1) // signed in, no account
			must(t, err)
			if lb.Me == nil || lb.Me.Joined || lb.Me.Rank != 0 {
				t.Fatalf("no account: me = %+v", lb.Me)
			}
		})
		t.Run("ReplayNeverDoubleCounts", func(t *testing.T) {
			before := scoreOf(t, s, 1)
			// Reset the cursor: every message is delivered again.
			_, err := db.Write().ExecContext(ctx, `DELETE FROM outbox_cursors WHERE consumer = $1`, FeedName)
			must(t, err)
			drain(t, db, s, FeedName)
			if got := scoreOf(t, s, 1); got != before {
				t.Fatalf("score after replay = %d, want %d", got, before)
			}
		})
		t.Run("ReversalLowersOnce", func(t *testing.T) {
			ref := credit(t, db, 4, 500, sh(2022, 8, 12, 9, 0, 0, 0), sh(2022, 8, 12, 9, 0, 0, 0))
			drain(t, db, s, FeedName)
			if r, _, _ := s.Board().Rank(ctx, BoardKey{"88week-2022", "GD"}, 4); r != 1 {
				t.Fatalf("rank before reversal %d", r)
			}
			reverse(t, db, 4, 500, ref, sh(2022, 8, 13, 9, 0, 0, 0))
			reverse(t, db, 4, 500, ref, sh(2022, 8, 13, 9, 0, 0, 0)) // duplicate message
			drain(t, db, s, FeedName)
			if got := scoreOf(t, s, 4); got != 0 {
				t.Fatalf("score after reversal = %d, want 0", got)
			}
			if r, _, _ := s.Board().Rank(ctx, BoardKey{"88week-2022", "GD"}, 4); r != 0 {
				t.Fatalf("zero score still ranked %d", r)
			}
		})
		t.Run("LeaveHides", func(t *testing.T) {
			_, err := s.Leave(ctx, "88week-2022", 2)
			must(t, err)
			credit(t, db, 2, 1, sh(2022, 8, 12, 9, 0, 0, 0), sh(2022, 8, 12, 9, 0, 0, 0))
			drain(t, db, s, FeedName)
			lb, err := s.Leaderboard(ctx, "88week-2022", "GD", 10, 2)
			must(t, err)
			if lb.Me.Rank != 0 || lb.Me.Visible || lb.Me.ScoreMG != 110 || lb.Members != 3 {
				t.Fatalf("after leave me=%+v members=%d", lb.Me, lb.Members)
			}
			_, err = s.Join(ctx, "88week-2022", 2, "GD", "Back")
			must(t, err)
			lb, _ = s.Leaderboard(ctx, "88week-2022", "GD", 10, 2)
			if lb.Me.Rank != 1 || lb.Top[0].Name != "Back" {
				t.Fatalf("after rejoin me=%+v top=%+v", lb.Me, lb.Top)
			}
		})
		t.Run("EraseRemovesDisplayName", func(t *testing.T) {
			must(t, db.InTx(ctx, func(tx *store.Tx) error { return EraseTx(ctx, tx, 2) }))
			lb, _ := s.Leaderboard(ctx, "88week-2022", "GD", 10, 0)
			if lb.Top[0].Name != MaskedName("88week-2022", 2) {
				t.Fatalf("name after erase %q", lb.Top[0].Name)
			}
		})
		t.Run("RebuildFindsDrift", func(t *testing.T) {
			_, err := db.Write().ExecContext(ctx, `UPDATE campaign_members SET score = score + 5 WHERE account_id = 1`)
			must(t, err)
			ds, err := s.Rebuild(ctx, "88week-2022", "GD")
			must(t, err)
			if len(ds) != 1 || ds[0].ScoreDrift != 1 || ds[0].BoardWrong != 0 {
				t.Fatalf("drift %+v", ds)
			}
			if got := scoreOf(t, s, 1); got != 110 {
				t.Fatalf("score after rebuild %d", got)
			}
			ds, _ = s.Rebuild(ctx, "88week-2022", "")
			for _, d := range ds {
				if d.ScoreDrift+d.BoardExtra+d.BoardMissing+d.BoardWrong != 0 {
					t.Fatalf("second rebuild drift %+v", d)
				}
			}
		})
		t.Run("BonusGranted", func(t *testing.T) {
			var grants []Bonus
			s.Bonus = func(_ context.Context, _ *store.Tx, b Bonus) error { grants = append(grants, b); return nil }
			c := week2022()
			c.BonusPercent = 50
			_, err := s.Save(ctx, c, false)
			must(t, err)
			ref := credit(t, db, 3, 4000, sh(2022, 8, 14, 9, 0, 0, 0), sh(2022, 8, 14, 9, 0, 0, 0))
			reverse(t, db, 3, 4000, ref, sh(2022, 8, 14, 10, 0, 0, 0))
			drain(t, db, s, FeedName)
			if len(grants[0].Ref) > 200 || len(bonusRef("88week-2022", strings.Repeat("x", 300))+":reversal") > 200 {
				t.Fatalf("bonus ref too long for the ledger")
			}
			if len(grants) != 2 || grants[0].Points != 2 || grants[1].Points != -2 || grants[1].Reverses != grants[0].Ref || grants[0].Ref == grants[1].Ref {
				t.Fatalf("grants %+v", grants)
			}
		})
		t.Run("RefusedBonusStillCounts", func(t *testing.T) {
			s.Bonus = func(context.Context, *store.Tx, Bonus) error { return oc.Errorf(oc.EInvalid, "no") }
			before := scoreOf(t, s, 3)
			credit(t, db, 3, 4000, sh(2022, 8, 14, 11, 0, 0, 0), sh(2022, 8, 14, 11, 0, 0, 0))
			drain(t, db, s, FeedName)
			if got := scoreOf(t, s, 3); got != before+4000 {
				t.Fatalf("score %d, want %d", got, before+4000)
			}
		})
	})
}
