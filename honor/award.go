package honor

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/webhook"
)

// standing is what honor knows of one account when it evaluates medals:
// its stats, derived from its credits, and the medals it holds.
type standing struct {
	st     Stats
	stored int64 // the longest streak recorded (honor_streaks)
	held   map[string]bool
}

// standings reads the standing of accs through the read pool, never the
// writer: their credits (intake.Activity, from the usage rows the intake
// keeps with every credit and reversal) and, from honor's own tables, the
// medals they hold, the campaigns they joined and the longest streak
// recorded. Four queries, whatever the number of accounts.
func (s *Service) standings(ctx context.Context, accs []int64) (map[int64]*standing, error) {
	act, err := intake.Activity(ctx, s.db, accs)
	if err != nil {
		return nil, fmt.Errorf("medals: %w", err)
	}
	by := make(map[int64]*standing, len(accs))
	for _, a := range accs {
		by[a] = &standing{st: statsOf(act[a]), held: map[string]bool{}}
	}
	q, d := s.db.Read(), s.db.Dialect
	if err := qReadMedals.QueryOn(ctx, q, d, accs, func(scan func(...any) error) error {
		var a int64
		var id string
		if err := scan(&a, &id); err != nil {
			return err
		}
		by[a].held[id] = true
		return nil
	}); err != nil {
		return nil, fmt.Errorf("medals: %w", err)
	}
	if err := qReadCampaigns.QueryOn(ctx, q, d, accs, func(scan func(...any) error) error {
		var a int64
		var id string
		if err := scan(&a, &id); err != nil {
			return err
		}
		by[a].st.Campaigns = append(by[a].st.Campaigns, id)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("medals: %w", err)
	}
	if err := qReadStreaks.QueryOn(ctx, q, d, accs, func(scan func(...any) error) error {
		var a, best int64
		if err := scan(&a, &best); err != nil {
			return err
		}
		by[a].stored = best
		return nil
	}); err != nil {
		return nil, fmt.Errorf("medals: %w", err)
	}
	for _, sd := range by {
		slices.Sort(sd.st.Campaigns)
		sd.st.BestStreak = max(sd.st.BestStreak, sd.stored)
	}
	return by, nil
}

// statsOf derives the stats a person's credits give (every field but
// Campaigns, and BestStreak before the recorded one is taken into
// account).
func statsOf(a intake.ActivitySummary) Stats {
	st := Stats{MG: a.MG, Credits: a.Credits, Scenarios: map[string]int64{}, Partners: []string{}, Campaigns: []string{}}
	for _, c := range a.Counts {
		st.Scenarios[c.Scenario] += c.Credits
		if !slices.Contains(st.Partners, c.Partner) {
			st.Partners = append(st.Partners, c.Partner)
		}
	}
	slices.Sort(st.Partners)
	days := make([]int64, len(a.Days))
	for i, d := range a.Days {
		days[i] = time.Date(d/10000, time.Month(d/100%100), d%100, 0, 0, 0, 0, time.UTC).Unix() / 86400
	}
	st.Streak, st.BestStreak = Streaks(days)
	return st
}

// award is one medal for one account.
type award struct {
	acc   int64
	medal string
}

// plan is what one batch writes, worked out from reads (Service.plan) so
// that the transaction that writes it (writeTx) only writes.
type plan struct {
	joins   []joinedBody // campaign memberships not recorded yet
	records [][2]int64   // account, its longest streak, when it grew
	awards  []award      // account order, then catalog order
}

// plan reads the standing of every account msgs touch and works out the
// batch's writes: the campaigns joined, the streak records that grew and
// the medals whose rules now hold and that the account does not hold yet.
// It reads the stats as they are now, not as the messages say: a message
// only names an account to look at again, so a replayed or repeated
// message changes nothing, and a batch sees every credit committed before
// its messages were read (a message is visible in the feed only once the
// transaction that wrote it, and its credit, has committed).
func (s *Service) plan(ctx context.Context, msgs []webhook.Message, catalog []Medal) (*plan, error) {
	var accs []int64
	var joins []joinedBody
	for _, m := range msgs {
		switch m.Topic {
		case webhook.TopicCreditCreated, webhook.TopicCreditReversed:
			acc := m.Account
			if acc == 0 {
				b, err := m.Credit()
				if err != nil {
					return nil, fmt.Errorf("medals: message %d: %w", m.ID, err)
				}
				acc = b.Account
			}
			if acc != 0 {
				accs = append(accs, acc)
			}
		case TopicCampaignJoined:
			var b joinedBody
			if err := json.Unmarshal(m.Body, &b); err != nil {
				return nil, fmt.Errorf("medals: message %d: %w", m.ID, err)
			}
			if b.Account != 0 && b.Campaign != "" {
				joins = append(joins, b)
				accs = append(accs, b.Account)
			}
		}
	}
	p := &plan{}
	if len(accs) == 0 {
		return p, nil
	}
	slices.Sort(accs)
	accs = slices.Compact(accs)
	by, err := s.standings(ctx, accs)
	if err != nil {
		return nil, err
	}
	// A campaign joined before (a replay) changes nothing.
	for _, j := range joins {
		st := &by[j.Account].st
		if !slices.Contains(st.Campaigns, j.Campaign) {
			st.Campaigns = append(st.Campaigns, j.Campaign)
			p.joins = append(p.joins, j)
		}
	}
	slices.SortFunc(p.joins, func(x, y joinedBody) int {
		return cmp.Or(cmp.Compare(x.Account, y.Account), cmp.Compare(x.Campaign, y.Campaign))
	})
	for _, a := range accs {
		sd := by[a]
		if sd.st.BestStreak > sd.stored {
			p.records = append(p.records, [2]int64{a, sd.st.BestStreak})
		}
		var act map[string]any
		for _, m := range catalog {
			if sd.held[m.ID] || (m.Campaign != "" && !slices.Contains(sd.st.Campaigns, m.Campaign)) {
				continue
			}
			if act == nil {
				act = sd.st.activation()
			}
			if ok, err := s.rules.eval(m.Rule, act); err == nil && ok { // an invalid source rule awards nothing
				p.awards = append(p.awards, award{a, m.ID})
			}
		}
	}
	return p, nil
}

// writeTx writes p: the campaigns joined, the streak records and the new
// medals with a medal.awarded message each. Every write is idempotent, so
// a plan that another consumer of the feed has written meanwhile (a second
// server on one PostgreSQL) changes nothing: the primary key of
// honor_medals and RETURNING make a medal awarded, and announced, exactly
// once, and a streak record only grows.
func (p *plan) writeTx(ctx context.Context, tx *store.Tx) error {
	if n := len(p.joins); n > 0 {
		accs, ids := make([]int64, n), make([]string, n)
		for i, j := range p.joins {
			accs[i], ids[i] = j.Account, j.Campaign
		}
		if err := qInsertCampaigns.Run(ctx, tx, []any{accs, ids}, nil); err != nil {
			return fmt.Errorf("medals: %w", err)
		}
	}
	if n := len(p.records); n > 0 {
		accs, bests := make([]int64, n), make([]int64, n)
		for i, r := range p.records {
			accs[i], bests[i] = r[0], r[1]
		}
		if err := qRaiseStreaks.Run(ctx, tx, []any{accs, bests}, nil); err != nil {
			return fmt.Errorf("medals: %w", err)
		}
	}
	if len(p.awards) == 0 {
		return nil
	}
	ca, cm, at := make([]int64, len(p.awards)), make([]string, len(p.awards)), make([]int64, len(p.awards))
	for i, c := range p.awards {
		ca[i], cm[i], at[i] = c.acc, c.medal, store.Micros(tx.Now)
	}
	won := map[award]bool{}
	if err := qInsertMedals.Run(ctx, tx, []any{ca, cm, at}, func(scan func(...any) error) error {
		var w award
		if err := scan(&w.acc, &w.medal); err != nil {
			return err
		}
		won[w] = true
		return nil
	}); err != nil {
		return fmt.Errorf("medals: %w", err)
	}
	var msgs []webhook.Msg
	for _, c := range p.awards {
		if won[c] {
			msgs = append(msgs, webhook.Msg{Topic: webhook.TopicMedalAwarded, Account: c.acc,
				Body: AwardedBody{Account: c.acc, Medal: c.medal, AwardedAt: tx.Now}})
		}
	}
	return webhook.EnqueueManyTx(ctx, tx, msgs)
}
