package honor

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/webhook"
)

// TopicCampaignJoined is the campaign package's internal campaign.joined
// topic (campaign.TopicJoined), read here for participation medals.
const TopicCampaignJoined = "campaign.joined"

// StreakZone is the time zone whose calendar days streaks count.
var StreakZone = mustZone("Asia/Shanghai")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		return time.FixedZone("CST", 8*3600) // Asia/Shanghai has no DST since 1991
	}
	return l
}

// DayOf returns the Asia/Shanghai calendar day of t as days since
// 1970-01-01.
func DayOf(t time.Time) int64 {
	y, m, d := t.In(StreakZone).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// AwardedBody is the body of medal.awarded messages.
type AwardedBody struct {
	Account   int64     `json:"account"`
	Medal     string    `json:"medal"`
	AwardedAt time.Time `json:"awarded_at"`
}

type joinedBody struct {
	Campaign string `json:"campaign"`
	Account  int64  `json:"account"`
}

// HandleMessages is the feed handler: it folds credit.created,
// credit.reversed and campaign.joined messages into the stats and awards
// the medals whose rules now hold, all in one transaction. A replayed
// message changes nothing.
func (s *Service) HandleMessages(ctx context.Context, msgs []webhook.Message) error {
	relevant := false
	for _, m := range msgs {
		switch m.Topic {
		case webhook.TopicCreditCreated, webhook.TopicCreditReversed, TopicCampaignJoined:
			relevant = true
		}
	}
	if !relevant {
		return nil
	}
	catalog, err := s.Catalog(ctx)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		touched := map[int64]bool{}
		for _, m := range msgs {
			var acc int64
			var err error
			switch m.Topic {
			case webhook.TopicCreditCreated:
				acc, err = creditTx(ctx, tx, m.Body)
			case webhook.TopicCreditReversed:
				acc, err = reverseTx(ctx, tx, m.Body)
			case TopicCampaignJoined:
				acc, err = joinedTx(ctx, tx, m.Body)
			default:
				continue
			}
			if err != nil {
				return fmt.Errorf("medals: message %d: %w", m.ID, err)
			}
			if acc != 0 {
				touched[acc] = true
			}
		}
		accs := make([]int64, 0, len(touched))
		for a := range touched {
			accs = append(accs, a)
		}
		slices.Sort(accs)
		for _, a := range accs {
			if err := streakTx(ctx, tx, a); err != nil {
				return err
			}
			if err := s.awardTx(ctx, tx, a, catalog); err != nil {
				return err
			}
		}
		return nil
	})
}

func creditTx(ctx context.Context, tx *store.Tx, body []byte) (int64, error) {
	var b webhook.CreditBody
	if err := json.Unmarshal(body, &b); err != nil {
		return 0, err
	}
	day := DayOf(b.OccurredAt)
	res, err := tx.ExecContext(ctx, `INSERT INTO honor_credits (ref, account_id, mg, day, scenario, partner) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (ref) DO NOTHING`, b.Ref, b.Account, b.MG, day, b.Scenario, b.Partner)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, nil // replayed
	}
	return b.Account, foldTx(ctx, tx, b.Account, b.MG, 1, day, b.Scenario, b.Partner)
}

func reverseTx(ctx context.Context, tx *store.Tx, body []byte) (int64, error) {
	var b webhook.CreditBody
	if err := json.Unmarshal(body, &b); err != nil {
		return 0, err
	}
	var acc, mg, day int64
	var scenario, partner string
	err := tx.QueryRowContext(ctx, `UPDATE honor_credits SET reversed_at = $2 WHERE ref = $1 AND reversed_at IS NULL
		RETURNING account_id, mg, day, scenario, partner`, b.Ref, store.Micros(tx.Now)).Scan(&acc, &mg, &day, &scenario, &partner)
	if isNoRows(err) {
		return 0, nil // replayed, or a credit never seen
	}
	if err != nil {
		return 0, err
	}
	return acc, foldTx(ctx, tx, acc, -mg, -1, day, scenario, partner)
}

// foldTx adds one credit (sign +1) or takes one back (sign -1).
func foldTx(ctx context.Context, tx *store.Tx, acc, mg, sign, day int64, scenario, partner string) error {
	now := store.Micros(tx.Now)
	if _, err := tx.ExecContext(ctx, `INSERT INTO honor_stats (account_id, mg, credits, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (account_id) DO UPDATE SET mg = honor_stats.mg + excluded.mg, credits = honor_stats.credits + excluded.credits,
		updated_at = excluded.updated_at`, acc, mg, sign, now); err != nil {
		return err
	}
	for _, c := range [][2]string{{"scenario", scenario}, {"partner", partner}} {
		if c[1] == "" {
			continue
		}
		if err := countTx(ctx, tx, acc, c[0], c[1], sign); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO honor_days (account_id, day, n) VALUES ($1, $2, $3)
		ON CONFLICT (account_id, day) DO UPDATE SET n = honor_days.n + excluded.n`, acc, day, sign)
	return err
}

func countTx(ctx context.Context, tx *store.Tx, acc int64, kind, name string, delta int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO honor_counts (account_id, kind, name, n) VALUES ($1, $2, $3, $4)
		ON CONFLICT (account_id, kind, name) DO UPDATE SET n = honor_counts.n + excluded.n`, acc, kind, name, delta)
	return err
}

func joinedTx(ctx context.Context, tx *store.Tx, body []byte) (int64, error) {
	var b joinedBody
	if err := json.Unmarshal(body, &b); err != nil {
		return 0, err
	}
	if b.Account == 0 || b.Campaign == "" {
		return 0, nil
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO honor_counts (account_id, kind, name, n) VALUES ($1, 'campaign', $2, 1)
		ON CONFLICT (account_id, kind, name) DO NOTHING`, b.Account, b.Campaign)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO honor_stats (account_id, updated_at) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING`,
		b.Account, store.Micros(tx.Now)); err != nil {
		return 0, err
	}
	return b.Account, nil
}

// streakTx recomputes acc's current and best streak from its credit days.
func streakTx(ctx context.Context, tx *store.Tx, acc int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT day FROM honor_days WHERE account_id = $1 AND n > 0 ORDER BY day DESC LIMIT 4000`, acc)
	if err != nil {
		return err
	}
	var days []int64
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d); err != nil {
			rows.Close()
			return err
		}
		days = append(days, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	current, best := Streaks(days)
	_, err = tx.ExecContext(ctx, `UPDATE honor_stats SET streak = $2, best_streak = CASE WHEN best_streak > $3 THEN best_streak ELSE $3 END
		WHERE account_id = $1`, acc, current, best)
	return err
}

// Streaks returns the run of consecutive days ending at the latest day and
// the longest run, for days sorted newest first without duplicates.
func Streaks(days []int64) (current, best int64) {
	run := int64(0)
	for i, d := range days {
		if i > 0 && days[i-1]-d == 1 {
			run++
		} else {
			if i > 0 && current == 0 {
				current = run
			}
			run = 1
		}
		best = max(best, run)
	}
	if current == 0 {
		current = run
	}
	return current, best
}

// awardTx awards acc every catalog medal whose rule holds and that it
// does not hold yet, each with a medal.awarded message.
func (s *Service) awardTx(ctx context.Context, tx *store.Tx, acc int64, catalog []Medal) error {
	held := map[string]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT medal_id FROM honor_medals WHERE account_id = $1`, acc)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		held[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	st, err := statsQ(ctx, tx, acc)
	if err != nil {
		return err
	}
	act := st.activation()
	for _, m := range catalog {
		if held[m.ID] || (m.Campaign != "" && !slices.Contains(st.Campaigns, m.Campaign)) {
			continue
		}
		ok, err := s.rules.eval(m.Rule, act)
		if err != nil || !ok {
			continue // an invalid source rule awards nothing
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO honor_medals (account_id, medal_id, awarded_at) VALUES ($1, $2, $3)
			ON CONFLICT (account_id, medal_id) DO NOTHING`, acc, m.ID, store.Micros(tx.Now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue
		}
		if err := webhook.EnqueueTx(ctx, tx, webhook.TopicMedalAwarded, "", acc, AwardedBody{Account: acc, Medal: m.ID, AwardedAt: tx.Now}); err != nil {
			return err
		}
	}
	return nil
}

// Run consumes the outbox feed until ctx ends; poll is the idle wait.
func (s *Service) Run(ctx context.Context, poll time.Duration) error {
	return webhook.NewFeed(s.db, FeedName).Run(ctx, poll, s.HandleMessages)
}
