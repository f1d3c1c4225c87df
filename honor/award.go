package honor

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/webhook"
)

// maxStreakDays bounds the credit days read per account for its streak.
const maxStreakDays = 4000

// standing is what plan reads about one account.
type standing struct {
	mg, credits int64
	stored      [2]int64            // streak, best streak
	counts      map[[2]string]int64 // (kind, name) → n, the positive ones
	held        map[string]bool
	days        map[int64]int64 // credit day → credits, the positive ones
}

// award is one medal for one account.
type award struct {
	acc   int64
	medal string
}

// plan is what one batch writes, worked out from reads (Service.plan) so
// that the transaction that writes it (writeTx) only writes.
type plan struct {
	refs     []string   // credit refs to record, not recorded before
	reversed []string   // recorded refs to flag reversed
	joins    []countKey // campaign counters to create
	f        *fold
	streaks  map[int64][2]int64 // touched account → streak, best streak
	awards   []award            // account order, then catalog order
}

// plan reads, through q, what msgs change (the standing of every touched
// account and, if exact, which refs are recorded) and works out the
// batch's writes: the counters' changes, each touched account's streaks
// and the medals whose rules now hold and that it does not hold yet.
//
// An optimistic plan (exact false) reads no refs and assumes what a batch
// nearly always is, every credit new and every reversal's credit counted
// and not taken back. writeTx checks that assumption on the way (the
// INSERT of the refs and the UPDATE of the reversal flags count their
// rows) and fails with errStale when it does not hold (a repeated credit,
// a reversal of a credit never counted, a replay, or another consumer of
// the feed, a second server on one PostgreSQL, that applied part of the
// batch in between); the caller then rolls back and plans the batch again
// exactly, inside the writer transaction (q is the transaction).
// HandleMessages plans optimistically inside its transaction; Run plans
// optimistically from the read pool, so that on SQLite it holds the single
// writer only while it writes.
func (s *Service) plan(ctx context.Context, q queryer, d store.Dialect, msgs []webhook.Message, catalog []Medal, exact bool) (*plan, error) {
	var credits, revs []webhook.CreditBody
	var joins []joinedBody
	seen := map[string]bool{}
	for _, m := range msgs {
		switch m.Topic {
		case webhook.TopicCreditCreated, webhook.TopicCreditReversed:
			var b webhook.CreditBody
			if err := json.Unmarshal(m.Body, &b); err != nil {
				return nil, fmt.Errorf("medals: message %d: %w", m.ID, err)
			}
			if m.Topic == webhook.TopicCreditReversed {
				revs = append(revs, b)
			} else if !seen[b.Ref] { // a message repeated within the batch
				seen[b.Ref] = true
				credits = append(credits, b)
			}
		case TopicCampaignJoined:
			var b joinedBody
			if err := json.Unmarshal(m.Body, &b); err != nil {
				return nil, fmt.Errorf("medals: message %d: %w", m.ID, err)
			}
			if b.Account != 0 && b.Campaign != "" {
				joins = append(joins, b)
			}
		}
	}
	recorded := map[string]bool{} // ref → reversed
	if exact {
		refs := make([]string, 0, len(credits)+len(revs))
		for _, b := range credits {
			refs = append(refs, b.Ref)
		}
		for _, b := range revs {
			refs = append(refs, b.Ref)
		}
		var err error
		if recorded, err = readRefs(ctx, q, d, refs); err != nil {
			return nil, fmt.Errorf("medals: %w", err)
		}
	}
	p := &plan{f: newFold(), streaks: map[int64][2]int64{}}
	for _, b := range credits {
		if _, ok := recorded[b.Ref]; !ok { // else replayed
			recorded[b.Ref] = false
			p.refs = append(p.refs, b.Ref)
			p.f.add(b.Account, b.MG, 1, b.OccurredAt, b.Scenario, b.Partner)
		}
	}
	// A reversal takes back a counted credit once: a credit never counted,
	// or taken back already, is not taken back.
	for _, b := range revs {
		rev, ok := recorded[b.Ref]
		if !exact && !ok {
			ok, rev = true, false // assumed; writeTx checks
		}
		if ok && !rev {
			recorded[b.Ref] = true
			p.reversed = append(p.reversed, b.Ref)
			p.f.add(b.Account, b.MG, -1, b.OccurredAt, b.Scenario, b.Partner)
		}
	}
	read := p.f.accounts()
	for _, j := range joins {
		read = append(read, j.Account)
	}
	slices.Sort(read)
	read = slices.Compact(read)
	if len(read) == 0 {
		return p, nil
	}
	by, err := readStandings(ctx, q, d, read)
	if err != nil {
		return nil, fmt.Errorf("medals: %w", err)
	}
	// A campaign joined before (a replay) changes nothing.
	for _, j := range joins {
		k := [2]string{"campaign", j.Campaign}
		if c := by[j.Account].counts; c[k] == 0 {
			c[k] = 1
			p.joins = append(p.joins, countKey{j.Account, "campaign", j.Campaign})
			p.f.touch(j.Account)
		}
	}
	accs := p.f.accounts()
	for k, n := range p.f.counts {
		by[k.acc].counts[[2]string{k.kind, k.name}] += n
	}
	for k, n := range p.f.days {
		by[k.acc].days[k.day] += n
	}
	for _, a := range accs {
		sd, delta := by[a], p.f.stats[a]
		st := Stats{MG: sd.mg + delta[0], Credits: sd.credits + delta[1], Scenarios: map[string]int64{}, Partners: []string{}, Campaigns: []string{}}
		for k, n := range sd.counts {
			if n <= 0 {
				continue
			}
			switch k[0] {
			case "scenario":
				st.Scenarios[k[1]] = n
			case "partner":
				st.Partners = append(st.Partners, k[1])
			case "campaign":
				st.Campaigns = append(st.Campaigns, k[1])
			}
		}
		slices.Sort(st.Partners)
		slices.Sort(st.Campaigns)
		days := make([]int64, 0, len(sd.days))
		for day, n := range sd.days {
			if n > 0 {
				days = append(days, day)
			}
		}
		slices.SortFunc(days, func(x, y int64) int { return cmp.Compare(y, x) }) // newest first
		st.Streak, st.BestStreak = Streaks(days)
		st.BestStreak = max(st.BestStreak, sd.stored[1])
		p.streaks[a] = [2]int64{st.Streak, st.BestStreak}
		var act map[string]any
		for _, m := range catalog {
			if sd.held[m.ID] || (m.Campaign != "" && !slices.Contains(st.Campaigns, m.Campaign)) {
				continue
			}
			if act == nil {
				act = st.activation()
			}
			if ok, err := s.rules.eval(m.Rule, act); err == nil && ok { // an invalid source rule awards nothing
				p.awards = append(p.awards, award{a, m.ID})
			}
		}
	}
	return p, nil
}

// readRefs returns which of refs are recorded, and whether each is
// reversed.
func readRefs(ctx context.Context, q queryer, d store.Dialect, refs []string) (map[string]bool, error) {
	out := make(map[string]bool, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	text, arg := `SELECT ref, reversed FROM honor_refs WHERE ref = ANY($1::text[])`, any(refs)
	if d == store.SQLite {
		b, err := json.Marshal(refs)
		if err != nil {
			return nil, err
		}
		text, arg = `SELECT ref, reversed FROM honor_refs WHERE ref IN (SELECT j.value FROM json_each(?1) AS j)`, string(b)
	}
	rows, err := q.QueryContext(ctx, text, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var ref string
		var rev int64
		if err := rows.Scan(&ref, &rev); err != nil {
			return nil, err
		}
		out[ref] = rev != 0
	}
	return out, rows.Err()
}

// readStandings reads the stats, counters, medals and credit days of accs
// in four queries.
func readStandings(ctx context.Context, q queryer, d store.Dialect, accs []int64) (map[int64]*standing, error) {
	by := make(map[int64]*standing, len(accs))
	for _, a := range accs {
		by[a] = &standing{counts: map[[2]string]int64{}, held: map[string]bool{}, days: map[int64]int64{}}
	}
	if err := qReadStats.QueryOn(ctx, q, d, accs, func(scan func(...any) error) error {
		var a, mg, credits, streak, best int64
		if err := scan(&a, &mg, &credits, &streak, &best); err != nil {
			return err
		}
		sd := by[a]
		sd.mg, sd.credits, sd.stored = mg, credits, [2]int64{streak, best}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := qReadCounts.QueryOn(ctx, q, d, accs, func(scan func(...any) error) error {
		var a, n int64
		var kind, name string
		if err := scan(&a, &kind, &name, &n); err != nil {
			return err
		}
		by[a].counts[[2]string{kind, name}] = n
		return nil
	}); err != nil {
		return nil, err
	}
	if err := qReadMedals.QueryOn(ctx, q, d, accs, func(scan func(...any) error) error {
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
	if err := qReadDays.QueryOn(ctx, q, d, accs, func(scan func(...any) error) error {
		var a, day, n int64
		if err := scan(&a, &day, &n); err != nil {
			return err
		}
		if sd := by[a]; len(sd.days) < maxStreakDays {
			sd.days[day] = n
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return by, nil
}
