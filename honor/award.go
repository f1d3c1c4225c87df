package honor

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

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
	type award struct {
		acc   int64
		medal string
	}
	for len(accs) > 0 {
		chunk := accs[:min(len(accs), chunkRows)]
		accs = accs[len(chunk):]
		by, err := readStandings(ctx, tx, chunk)
		if err != nil {
			return fmt.Errorf("medals: %w", err)
		}
		var cands []award
		for _, a := range chunk {
			sd := by[a]
			current, best := Streaks(sd.days)
			best = max(best, sd.stored[1])
			if current != sd.stored[0] || best != sd.stored[1] {
				if _, err := tx.ExecContext(ctx, `UPDATE honor_stats SET streak = $2, best_streak = $3 WHERE account_id = $1`,
					a, current, best); err != nil {
					return fmt.Errorf("medals: %w", err)
				}
			}
			sd.st.Streak, sd.st.BestStreak = current, best
			act := sd.st.activation()
			for _, m := range catalog {
				if sd.held[m.ID] || (m.Campaign != "" && !slices.Contains(sd.st.Campaigns, m.Campaign)) {
					continue
				}
				if ok, err := s.rules.eval(m.Rule, act); err == nil && ok { // an invalid source rule awards nothing
					cands = append(cands, award{a, m.ID})
				}
			}
		}
		if len(cands) == 0 {
			continue
		}
		// At most len(catalog) rows per account; chunk by rows all the same.
		won := map[award]bool{}
		for rest := cands; len(rest) > 0; {
			part := rest[:min(len(rest), chunkRows)]
			rest = rest[len(part):]
			var sb strings.Builder
			sb.WriteString(`INSERT INTO honor_medals (account_id, medal_id, awarded_at) VALUES `)
			placeholders(&sb, tx.Dialect, len(part), 3)
			sb.WriteString(` ON CONFLICT (account_id, medal_id) DO NOTHING RETURNING account_id, medal_id`)
			args := make([]any, 0, 3*len(part))
			for _, c := range part {
				args = append(args, c.acc, c.medal, store.Micros(tx.Now))
			}
			rows, err := tx.QueryContext(ctx, sb.String(), args...)
			if err != nil {
				return fmt.Errorf("medals: %w", err)
			}
			for rows.Next() {
				var w award
				if err := rows.Scan(&w.acc, &w.medal); err != nil {
					rows.Close()
					return fmt.Errorf("medals: %w", err)
				}
				won[w] = true
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("medals: %w", err)
			}
		}
		var msgs []webhook.Msg
		for _, c := range cands { // account order, then catalog order
			if won[c] {
				msgs = append(msgs, webhook.Msg{Topic: webhook.TopicMedalAwarded, Account: c.acc,
					Body: AwardedBody{Account: c.acc, Medal: c.medal, AwardedAt: tx.Now}})
			}
		}
		if err := webhook.EnqueueManyTx(ctx, tx, msgs); err != nil {
			return err
		}
	}
	return nil
}

// readStandings reads the stats, counters, medals and credit days of accs
// (at most chunkRows) in four queries.
func readStandings(ctx context.Context, tx *store.Tx, accs []int64) (map[int64]*standing, error) {
	by := make(map[int64]*standing, len(accs))
	args := make([]any, len(accs))
	for i, a := range accs {
		args[i] = a
		by[a] = &standing{st: Stats{Scenarios: map[string]int64{}, Partners: []string{}, Campaigns: []string{}}, held: map[string]bool{}}
	}
	var sb strings.Builder
	for i := range accs {
		if i > 0 {
			sb.WriteString(", ")
		}
		if tx.Dialect == store.SQLite {
			sb.WriteByte('?')
		} else {
			fmt.Fprintf(&sb, "$%d", i+1)
		}
	}
	in := sb.String()
	if err := scanRows(ctx, tx, `SELECT account_id, mg, credits, streak, best_streak FROM honor_stats WHERE account_id IN (`+in+`)`, args,
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
	if err := scanRows(ctx, tx, `SELECT account_id, kind, name, n FROM honor_counts WHERE account_id IN (`+in+`) AND n > 0`, args,
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
	if err := scanRows(ctx, tx, `SELECT account_id, medal_id FROM honor_medals WHERE account_id IN (`+in+`)`, args,
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
	if err := scanRows(ctx, tx, `SELECT account_id, day FROM honor_days WHERE account_id IN (`+in+`) AND n > 0 ORDER BY account_id, day DESC`, args,
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

// scanRows runs q and calls row for each result row.
func scanRows(ctx context.Context, tx *store.Tx, q string, args []any, row func(scan func(...any) error) error) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}
