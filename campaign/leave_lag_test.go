package campaign

import (
	"context"
	"testing"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestCreditBeforeLeavingCounts: the score updater runs behind the
// outbox, so a member may leave between a credit and its processing. A
// credit made while the person was a member counts; one made after they
// left does not, whenever the feed gets to either.
func TestCreditBeforeLeavingCounts(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := setup(t, db, NewMemBoard())
		clk.set(sh(2022, 8, 9, 9, 0, 0, 0))
		_, err := s.Join(ctx, "88week-2022", 7, "GD", "")
		must(t, err)
		credit(t, db, 7, 300, sh(2022, 8, 9, 10, 0, 0, 0), sh(2022, 8, 9, 10, 0, 0, 0)) // while a member
		clk.set(sh(2022, 8, 9, 11, 0, 0, 0))
		_, err = s.Leave(ctx, "88week-2022", 7) // before the feed caught up
		must(t, err)
		credit(t, db, 7, 5, sh(2022, 8, 9, 12, 0, 0, 0), sh(2022, 8, 9, 12, 0, 0, 0)) // after leaving
		drain(t, db, s, FeedName)
		if got := scoreOf(t, s, 7); got != 300 {
			t.Fatalf("score = %d, want 300 (the credit made before leaving only)", got)
		}
	})
}

// TestCreditWhileAwayDoesNotCount: a person who left and joined again
// gets no score for credits made while away, even when the feed processes
// them after the rejoin; credits before leaving and after rejoining count.
func TestCreditWhileAwayDoesNotCount(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := setup(t, db, NewMemBoard())
		clk.set(sh(2022, 8, 9, 9, 0, 0, 0))
		_, err := s.Join(ctx, "88week-2022", 7, "GD", "")
		must(t, err)
		credit(t, db, 7, 300, sh(2022, 8, 9, 10, 0, 0, 0), sh(2022, 8, 9, 10, 0, 0, 0)) // member
		clk.set(sh(2022, 8, 9, 11, 0, 0, 0))
		_, err = s.Leave(ctx, "88week-2022", 7)
		must(t, err)
		credit(t, db, 7, 5, sh(2022, 8, 9, 12, 0, 0, 0), sh(2022, 8, 9, 12, 0, 0, 0)) // away
		clk.set(sh(2022, 8, 9, 13, 0, 0, 0))
		_, err = s.Join(ctx, "88week-2022", 7, "GD", "")
		must(t, err)
		credit(t, db, 7, 40, sh(2022, 8, 9, 14, 0, 0, 0), sh(2022, 8, 9, 14, 0, 0, 0)) // back
		// A name change later keeps the remembered absence.
		_, err = s.Join(ctx, "88week-2022", 7, "GD", "Seven")
		must(t, err)
		drain(t, db, s, FeedName)
		if got := scoreOf(t, s, 7); got != 340 {
			t.Fatalf("score = %d, want 340 (not the 5 credited while away)", got)
		}
	})
}
