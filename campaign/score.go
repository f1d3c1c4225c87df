package campaign

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/webhook"
)

// FeedName is the outbox consumer name of the score updater.
const FeedName = "leaderboard"

// Which credits count (decided here, documented in docs/campaigns.md): a
// credit counts for a campaign when the person is a visible member whose
// join is not later than the credit's CreditedAt, CreditedAt lies in the
// window, OccurredAt lies in the window too (an act from before the
// campaign reported during it does not count; an act in the window
// credited after the end does not count either), and the behavior or
// scenario is one the campaign counts. The score is the sum of counted mg;
// ReachedAt is the latest CreditedAt (or ReversedAt) that changed it.

// HandleMessages is the feed handler: it applies credit.created and
// credit.reversed messages to campaign scores in one transaction, then
// projects the changed members onto the board. A replayed message changes
// nothing (campaign_credits is keyed by campaign and ledger ref).
func (s *Service) HandleMessages(ctx context.Context, msgs []webhook.Message) error {
	type changed struct {
		campaign string
		account  int64
	}
	var touched []changed
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		touched = touched[:0]
		for _, m := range msgs {
			if m.Topic != webhook.TopicCreditCreated && m.Topic != webhook.TopicCreditReversed {
				continue
			}
			var b webhook.CreditBody
			if err := json.Unmarshal(m.Body, &b); err != nil {
				return fmt.Errorf("leaderboard: message %d: %w", m.ID, err)
			}
			var ids []string
			var err error
			if m.Topic == webhook.TopicCreditCreated {
				ids, err = s.creditTx(ctx, tx, b)
			} else {
				ids, err = s.reverseTx(ctx, tx, b)
			}
			if err != nil {
				return fmt.Errorf("leaderboard: message %d: %w", m.ID, err)
			}
			for _, id := range ids {
				touched = append(touched, changed{id, b.Account})
			}
		}
		return nil
	})
	if err != nil || len(touched) == 0 {
		return err
	}
	seen := map[changed]bool{}
	ups := make([]Update, 0, len(touched))
	for _, c := range touched {
		if seen[c] {
			continue
		}
		seen[c] = true
		m, v, err := scanMember(s.db.Read().QueryRowContext(ctx, `SELECT `+memberCols+` FROM campaign_members WHERE campaign_id = $1 AND account_id = $2`, c.campaign, c.account))
		if err != nil {
			return fmt.Errorf("leaderboard: read member: %w", err)
		}
		ups = append(ups, updateOf(m, v))
	}
	return s.board.Apply(ctx, ups)
}

// creditTx counts credit b for every campaign it qualifies for and returns
// their ids.
func (s *Service) creditTx(ctx context.Context, tx *store.Tx, b webhook.CreditBody) ([]string, error) {
	at := store.Micros(b.CreditedAt)
	rows, err := tx.QueryContext(ctx, `SELECT `+campaignCols+` FROM campaigns c
		WHERE c.start_at <= $2 AND c.end_at > $2 AND EXISTS (SELECT 1 FROM campaign_members m
		WHERE m.campaign_id = c.id AND m.account_id = $1 AND m.left_at IS NULL AND m.joined_at <= $2)`, b.Account, at)
	if err != nil {
		return nil, fmt.Errorf("campaigns of account: %w", err)
	}
	var cs []*Campaign
	for rows.Next() {
		c, err := scanCampaign(rows, tx.Now)
		if err != nil {
			rows.Close()
			return nil, err
		}
		cs = append(cs, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var ids []string
	for _, c := range cs {
		if !c.InWindow(b.OccurredAt) || !c.Counts(b.Behavior, b.Scenario) || b.MG <= 0 {
			continue
		}
		bonus := b.Points * c.BonusPercent / 100
		var expires time.Time
		if c.BonusExpiryDays > 0 {
			expires = b.CreditedAt.Add(time.Duration(c.BonusExpiryDays) * 24 * time.Hour)
			if !expires.After(tx.Now) {
				bonus = 0 // processed after the bonus would have expired: nothing to grant
			}
		}
		if s.Bonus == nil {
			bonus = 0
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO campaign_credits (campaign_id, ref, account_id, mg, bonus_points, credited_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (campaign_id, ref) DO NOTHING`, c.ID, b.Ref, b.Account, b.MG, bonus, at)
		if err != nil {
			return nil, fmt.Errorf("journal credit: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // replayed
		}
		if err := bumpTx(ctx, tx, c.ID, b.Account, b.MG, at); err != nil {
			return nil, err
		}
		if bonus > 0 {
			g := Bonus{Campaign: c.ID, Parent: b.Account, Sub: b.Sub, Points: bonus, Ref: bonusRef(c.ID, b.Ref), ExpiresAt: expires}
			if err := s.Bonus(ctx, tx, g); err != nil {
				return nil, fmt.Errorf("campaign bonus: %w", err)
			}
		}
		ids = append(ids, c.ID)
	}
	return ids, nil
}

// reverseTx subtracts a reversed credit from every campaign it counted in.
func (s *Service) reverseTx(ctx context.Context, tx *store.Tx, b webhook.CreditBody) ([]string, error) {
	at := b.ReversedAt
	if at.IsZero() {
		at = tx.Now
	}
	rows, err := tx.QueryContext(ctx, `UPDATE campaign_credits SET reversed_at = $2 WHERE ref = $1 AND reversed_at IS NULL
		RETURNING campaign_id, account_id, mg, bonus_points`, b.Ref, store.Micros(at))
	if err != nil {
		return nil, fmt.Errorf("journal reversal: %w", err)
	}
	type hit struct {
		campaign       string
		account        int64
		mg, bonusPoint int64
	}
	var hits []hit
	for rows.Next() {
		var h hit
		if err := rows.Scan(&h.campaign, &h.account, &h.mg, &h.bonusPoint); err != nil {
			rows.Close()
			return nil, err
		}
		hits = append(hits, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var ids []string
	for _, h := range hits {
		if err := bumpTx(ctx, tx, h.campaign, h.account, -h.mg, store.Micros(at)); err != nil {
			return nil, err
		}
		if h.bonusPoint > 0 && s.Bonus != nil {
			g := Bonus{Campaign: h.campaign, Parent: h.account, Sub: b.Sub, Points: -h.bonusPoint,
				Ref: bonusRef(h.campaign, b.Ref) + ":reversal", Reverses: bonusRef(h.campaign, b.Ref)}
			if err := s.Bonus(ctx, tx, g); err != nil {
				return nil, fmt.Errorf("campaign bonus reversal: %w", err)
			}
		}
		ids = append(ids, h.campaign)
	}
	return ids, nil
}

// bonusRef is the ledger reference of the bonus for credit ref.
func bonusRef(campaign, ref string) string { return "campaign:" + campaign + ":" + ref }

// bumpTx adds delta mg to a member's score; reached_at becomes the later of
// its old value and at, so replays in any order give the same result.
func bumpTx(ctx context.Context, tx *store.Tx, campaign string, account, delta, at int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE campaign_members SET score = score + $3,
		reached_at = CASE WHEN reached_at > $4 THEN reached_at ELSE $4 END, version = version + 1
		WHERE campaign_id = $1 AND account_id = $2`, campaign, account, delta, at)
	if err != nil {
		return fmt.Errorf("campaign score: %w", err)
	}
	return nil
}

// Run consumes the outbox feed until ctx ends; poll is the idle wait.
func (s *Service) Run(ctx context.Context, poll time.Duration) error {
	return webhook.NewFeed(s.db, FeedName).Run(ctx, poll, s.HandleMessages)
}
