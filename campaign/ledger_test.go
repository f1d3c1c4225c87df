package campaign

import (
	"context"
	"testing"

	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

func TestLedgerBonus(t *testing.T) {
	storetest.Each(t, append(comps, ledger.Migrations), func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := setup(t, db, NewMemBoard())
		s.Bonus = LedgerBonus
		c := week2022()
		c.BonusPercent = 100
		_, err := s.Save(ctx, c, false)
		must(t, err)
		_, err = s.Join(ctx, "88week-2022", 7, "GD", "")
		must(t, err)
		at := sh(2022, 8, 9, 10, 0, 0, 0)
		ref := credit(t, db, 7, 12_000, at, at) // 12 points → 12 bonus points
		drain(t, db, s, FeedName)
		l := ledger.NewService(db, 0)
		b, err := l.Balance(ctx, 7)
		must(t, err)
		if b.Points != 12 || b.MG != 0 {
			t.Fatalf("after bonus: points %d mg %d, want 12 and 0 (mg is never inflated)", b.Points, b.MG)
		}
		// Replaying grants nothing more.
		_, err = db.Write().ExecContext(ctx, `DELETE FROM outbox_cursors`)
		must(t, err)
		drain(t, db, s, FeedName)
		if b, _ = l.Balance(ctx, 7); b.Points != 12 {
			t.Fatalf("after replay: points %d", b.Points)
		}
		reverse(t, db, 7, 12_000, ref, at.Add(1))
		drain(t, db, s, FeedName)
		if b, _ = l.Balance(ctx, 7); b.Points != 0 {
			t.Fatalf("after clawback: points %d", b.Points)
		}
	})
}
