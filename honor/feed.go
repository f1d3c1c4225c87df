package honor

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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
//
// It works set-based, so its cost grows with the batch's accounts rather
// than its messages: the batch's credits are recorded with multi-row
// INSERTs (the ones already recorded are replays and are skipped), their
// effects are summed in memory per account, counter and day and written
// with one multi-row upsert per table, and then the stats, medals and
// credit days of every touched account are read in a few queries, the
// rules evaluated in memory and the new medals written with one INSERT.
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
		f := newFold()
		var credits []webhook.CreditBody
		seen := map[string]bool{}
		for _, m := range msgs {
			if m.Topic != webhook.TopicCreditCreated {
				continue
			}
			var b webhook.CreditBody
			if err := json.Unmarshal(m.Body, &b); err != nil {
				return fmt.Errorf("medals: message %d: %w", m.ID, err)
			}
			if !seen[b.Ref] { // a message repeated within the batch
				seen[b.Ref] = true
				credits = append(credits, b)
			}
		}
		// Credits first: a reversal in the same batch always follows its
		// credit in the outbox, so it finds the credit recorded.
		if err := creditsTx(ctx, tx, credits, f); err != nil {
			return fmt.Errorf("medals: %w", err)
		}
		for _, m := range msgs {
			var err error
			switch m.Topic {
			case webhook.TopicCreditReversed:
				err = reverseTx(ctx, tx, m.Body, f)
			case TopicCampaignJoined:
				err = joinedTx(ctx, tx, m.Body, f)
			}
			if err != nil {
				return fmt.Errorf("medals: message %d: %w", m.ID, err)
			}
		}
		if err := f.flushTx(ctx, tx); err != nil {
			return fmt.Errorf("medals: %w", err)
		}
		return s.awardTx(ctx, tx, f.accounts(), catalog)
	})
}

type countKey struct {
	acc        int64
	kind, name string
}

type dayKey struct{ acc, day int64 }

// fold sums one batch's changes to the stats tables.
type fold struct {
	stats  map[int64]*[2]int64 // account → mg, credits
	counts map[countKey]int64
	days   map[dayKey]int64
}

func newFold() *fold {
	return &fold{stats: map[int64]*[2]int64{}, counts: map[countKey]int64{}, days: map[dayKey]int64{}}
}

// touch makes acc's stats row exist after the flush.
func (f *fold) touch(acc int64) *[2]int64 {
	d := f.stats[acc]
	if d == nil {
		d = &[2]int64{}
		f.stats[acc] = d
	}
	return d
}

// add adds one credit (sign +1) or takes one back (sign -1).
func (f *fold) add(acc, mg, sign, day int64, scenario, partner string) {
	d := f.touch(acc)
	d[0] += mg
	d[1] += sign
	if scenario != "" {
		f.counts[countKey{acc, "scenario", scenario}] += sign
	}
	if partner != "" {
		f.counts[countKey{acc, "partner", partner}] += sign
	}
	f.days[dayKey{acc, day}] += sign
}

// accounts returns the touched accounts in increasing order.
func (f *fold) accounts() []int64 {
	accs := make([]int64, 0, len(f.stats))
	for a := range f.stats {
		accs = append(accs, a)
	}
	slices.Sort(accs)
	return accs
}

// chunkRows bounds the rows of one multi-row statement (≤ 6 parameters a
// row: far under both databases' parameter limits).
const chunkRows = 500

// placeholders writes n rows of k parameters: "?" on SQLite (its driver
// looks numbered names up linearly), $1… on PostgreSQL.
func placeholders(sb *strings.Builder, d store.Dialect, n, k int) {
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteByte('(')
		for j := range k {
			if j > 0 {
				sb.WriteString(", ")
			}
			if d == store.SQLite {
				sb.WriteByte('?')
			} else {
				fmt.Fprintf(sb, "$%d", i*k+j+1)
			}
		}
		sb.WriteByte(')')
	}
}

// creditsTx records credits (distinct refs) and folds the ones not seen
// before.
func creditsTx(ctx context.Context, tx *store.Tx, credits []webhook.CreditBody, f *fold) error {
	for len(credits) > 0 {
		chunk := credits[:min(len(credits), chunkRows)]
		credits = credits[len(chunk):]
		var sb strings.Builder
		sb.WriteString(`INSERT INTO honor_credits (ref, account_id, mg, day, scenario, partner) VALUES `)
		placeholders(&sb, tx.Dialect, len(chunk), 6)
		sb.WriteString(` ON CONFLICT (ref) DO NOTHING RETURNING ref`)
		args := make([]any, 0, 6*len(chunk))
		for _, b := range chunk {
			args = append(args, b.Ref, b.Account, b.MG, DayOf(b.OccurredAt), b.Scenario, b.Partner)
		}
		rows, err := tx.QueryContext(ctx, sb.String(), args...)
		if err != nil {
			return err
		}
		fresh := map[string]bool{}
		for rows.Next() {
			var ref string
			if err := rows.Scan(&ref); err != nil {
				rows.Close()
				return err
			}
			fresh[ref] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, b := range chunk {
			if fresh[b.Ref] { // else replayed
				f.add(b.Account, b.MG, 1, DayOf(b.OccurredAt), b.Scenario, b.Partner)
			}
		}
	}
	return nil
}

func reverseTx(ctx context.Context, tx *store.Tx, body []byte, f *fold) error {
	var b webhook.CreditBody
	if err := json.Unmarshal(body, &b); err != nil {
		return err
	}
	var acc, mg, day int64
	var scenario, partner string
	err := tx.QueryRowContext(ctx, `UPDATE honor_credits SET reversed_at = $2 WHERE ref = $1 AND reversed_at IS NULL
		RETURNING account_id, mg, day, scenario, partner`, b.Ref, store.Micros(tx.Now)).Scan(&acc, &mg, &day, &scenario, &partner)
	if isNoRows(err) {
		return nil // replayed, or a credit never seen
	}
	if err != nil {
		return err
	}
	f.add(acc, -mg, -1, day, scenario, partner)
	return nil
}

func joinedTx(ctx context.Context, tx *store.Tx, body []byte, f *fold) error {
	var b joinedBody
	if err := json.Unmarshal(body, &b); err != nil {
		return err
	}
	if b.Account == 0 || b.Campaign == "" {
		return nil
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO honor_counts (account_id, kind, name, n) VALUES ($1, 'campaign', $2, 1)
		ON CONFLICT (account_id, kind, name) DO NOTHING`, b.Account, b.Campaign)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		f.touch(b.Account)
	}
	return nil
}

// flushTx writes the fold with one multi-row upsert per table and chunk,
// rows in key order (PostgreSQL writers then lock rows in one order).
func (f *fold) flushTx(ctx context.Context, tx *store.Tx) error {
	now := store.Micros(tx.Now)
	accs := f.accounts()
	var args []any
	for _, a := range accs {
		d := f.stats[a]
		args = append(args, a, d[0], d[1], now)
	}
	if err := upsertTx(ctx, tx, `INSERT INTO honor_stats (account_id, mg, credits, updated_at) VALUES `, 4, args,
		` ON CONFLICT (account_id) DO UPDATE SET mg = honor_stats.mg + excluded.mg, credits = honor_stats.credits + excluded.credits,
		updated_at = excluded.updated_at`); err != nil {
		return err
	}
	cks := make([]countKey, 0, len(f.counts))
	for k, n := range f.counts {
		if n != 0 {
			cks = append(cks, k)
		}
	}
	slices.SortFunc(cks, func(a, b countKey) int {
		return cmp.Or(cmp.Compare(a.acc, b.acc), cmp.Compare(a.kind, b.kind), cmp.Compare(a.name, b.name))
	})
	args = args[:0]
	for _, k := range cks {
		args = append(args, k.acc, k.kind, k.name, f.counts[k])
	}
	if err := upsertTx(ctx, tx, `INSERT INTO honor_counts (account_id, kind, name, n) VALUES `, 4, args,
		` ON CONFLICT (account_id, kind, name) DO UPDATE SET n = honor_counts.n + excluded.n`); err != nil {
		return err
	}
	dks := make([]dayKey, 0, len(f.days))
	for k, n := range f.days {
		if n != 0 {
			dks = append(dks, k)
		}
	}
	slices.SortFunc(dks, func(a, b dayKey) int { return cmp.Or(cmp.Compare(a.acc, b.acc), cmp.Compare(a.day, b.day)) })
	args = args[:0]
	for _, k := range dks {
		args = append(args, k.acc, k.day, f.days[k])
	}
	return upsertTx(ctx, tx, `INSERT INTO honor_days (account_id, day, n) VALUES `, 3, args,
		` ON CONFLICT (account_id, day) DO UPDATE SET n = honor_days.n + excluded.n`)
}

// upsertTx runs head + rows of k args + tail, chunkRows rows at a time.
func upsertTx(ctx context.Context, tx *store.Tx, head string, k int, args []any, tail string) error {
	for len(args) > 0 {
		chunk := args[:min(len(args), chunkRows*k)]
		args = args[len(chunk):]
		var sb strings.Builder
		sb.WriteString(head)
		placeholders(&sb, tx.Dialect, len(chunk)/k, k)
		sb.WriteString(tail)
		if _, err := tx.ExecContext(ctx, sb.String(), chunk...); err != nil {
			return err
		}
	}
	return nil
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

// Run consumes the outbox feed until ctx ends; poll is the idle wait.
func (s *Service) Run(ctx context.Context, poll time.Duration) error {
	return webhook.NewFeed(s.db, FeedName).Run(ctx, poll, s.HandleMessages)
}
