package honor

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/webhook"
)

// maxStreakDays bounds the credit days read per account for its streak.
const maxStreakDays = 4000

// standing is what awardTx reads about one account.
type standing struct {
	st     Stats
	held   map[string]bool
	days   []int64 // credit days, newest first
	stored [2]int64
}

// awardTx recomputes the streaks of accs (sorted) and awards each every
// catalog medal whose rule holds and that it does not hold yet, each with
// a medal.awarded message. The primary key of honor_medals and RETURNING
// make a medal awarded, and announced, exactly once.
func (s *Service) awardTx(ctx context.Context, tx *store.Tx, accs []int64, catalog []Medal) error {
	if len(accs) == 0 {
		return nil
	}
	type award struct {
		acc   int64
		medal string
	}
	by, err := readStandings(ctx, tx, accs)
	if err != nil {
		return fmt.Errorf("medals: %w", err)
	}
	var cands []award
	var moved [3][]int64 // accounts whose stored streaks change: account, streak, best
	for _, a := range accs {
		sd := by[a]
		current, best := Streaks(sd.days)
		best = max(best, sd.stored[1])
		if current != sd.stored[0] || best != sd.stored[1] {
			moved[0], moved[1], moved[2] = append(moved[0], a), append(moved[1], current), append(moved[2], best)
		}
		sd.st.Streak, sd.st.BestStreak = current, best
		var act map[string]any
		for _, m := range catalog {
			if sd.held[m.ID] || (m.Campaign != "" && !slices.Contains(sd.st.Campaigns, m.Campaign)) {
				continue
			}
			if act == nil {
				act = sd.st.activation()
			}
			if ok, err := s.rules.eval(m.Rule, act); err == nil && ok { // an invalid source rule awards nothing
				cands = append(cands, award{a, m.ID})
			}
		}
	}
	if len(moved[0]) > 0 {
		if err := qUpdateStreaks.Run(ctx, tx, []any{moved[0], moved[1], moved[2]}, nil); err != nil {
			return fmt.Errorf("medals: %w", err)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	ca, cm, at := make([]int64, len(cands)), make([]string, len(cands)), make([]int64, len(cands))
	for i, c := range cands {
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
	for _, c := range cands { // account order, then catalog order
		if won[c] {
			msgs = append(msgs, webhook.Msg{Topic: webhook.TopicMedalAwarded, Account: c.acc,
				Body: AwardedBody{Account: c.acc, Medal: c.medal, AwardedAt: tx.Now}})
		}
	}
	return webhook.EnqueueManyTx(ctx, tx, msgs)
}

// readStandings reads the stats, counters, medals and credit days of accs
// in four queries.
func readStandings(ctx context.Context, tx *store.Tx, accs []int64) (map[int64]*standing, error) {
	by := make(map[int64]*standing, len(accs))
	for _, a := range accs {
		by[a] = &standing{st: Stats{Scenarios: map[string]int64{}, Partners: []string{}, Campaigns: []string{}}, held: map[string]bool{}}
	}
	if err := qReadStats.Query(ctx, tx, accs,
		func(scan func(...any) error) error {
			var a, mg, credits, streak, best int64
			if err := scan(&a, &mg, &credits, &streak, &best); err != nil {
				return err
			}
			sd := by[a]
			sd.st.MG, sd.st.Credits, sd.stored = mg, credits, [2]int64{streak, best}
			return nil
		}); err != nil {
		return nil, err
	}
	if err := qReadCounts.Query(ctx, tx, accs,
		func(scan func(...any) error) error {
			var a, n int64
			var kind, name string
			if err := scan(&a, &kind, &name, &n); err != nil {
				return err
			}
			sd := by[a]
			switch kind {
			case "scenario":
				sd.st.Scenarios[name] = n
			case "partner":
				sd.st.Partners = append(sd.st.Partners, name)
			case "campaign":
				sd.st.Campaigns = append(sd.st.Campaigns, name)
			}
			return nil
		}); err != nil {
		return nil, err
	}
	if err := qReadMedals.Query(ctx, tx, accs,
		func(scan func(...any) error) error {
			var a int64
			var id string
			if err := scan(&a, &id); err != nil {
				return err
			}
			by[a].held[id] = true
			return nil
		}); err != nil {
		return nil, err
	}
	if err := qReadDays.Query(ctx, tx, accs,
		func(scan func(...any) error) error {
			var a, d int64
			if err := scan(&a, &d); err != nil {
				return err
			}
			if sd := by[a]; len(sd.days) < maxStreakDays {
				sd.days = append(sd.days, d)
			}
			return nil
		}); err != nil {
		return nil, err
	}
	for _, sd := range by {
		sort.Strings(sd.st.Partners)
		sort.Strings(sd.st.Campaigns)
	}
	return by, nil
}
