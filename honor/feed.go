package honor

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
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
//
// A credit is counted once per ledger ref (honor_refs: a replayed or
// repeated credit.created changes nothing) and taken back once: a
// credit.reversed flags its ref and takes back what the message carries
// (the intake writes the credit's mg, partner, scenario and occurred_at in
// it); a reversal of a credit never counted, or taken back already,
// changes nothing. Run applies a batch and moves the feed's cursor in one
// transaction, so a batch is normally applied once; the refs make hand
// replays (a cursor moved back) and repeated messages harmless.
//
// It works set-based, so its cost grows with the batch's accounts rather
// than its messages: the stats, counters, medals and credit days of every
// touched account are read in four queries, the changes summed and the
// rules evaluated in memory (plan; a batch that repeats a credit, reverses
// one never counted or replays is rolled back and planned again with its
// refs read first), and then the
// new refs are recorded with one INSERT, the changes written with one
// upsert per table (streaks with the stats) and the new medals with one
// INSERT (writeTx). The statements' texts do not depend on the batch's
// size (see store.BulkRead and store.BulkWrite), so each is parsed once,
// not once per batch.
func (s *Service) HandleMessages(ctx context.Context, msgs []webhook.Message) error {
	if !relevant(msgs) {
		return nil
	}
	catalog, err := s.Catalog(ctx)
	if err != nil {
		return err
	}
	err = s.applyTx(ctx, msgs, catalog, false, nil)
	if errors.Is(err, errStale) {
		err = s.applyTx(ctx, msgs, catalog, true, nil)
	}
	return err
}

// applyTx plans msgs inside a writer transaction, exactly or
// optimistically (see plan), and writes them; then, if f is not nil, it
// moves f's cursor past them in the same transaction.
func (s *Service) applyTx(ctx context.Context, msgs []webhook.Message, catalog []Medal, exact bool, f *webhook.Feed) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if relevant(msgs) {
			p, err := s.plan(ctx, tx, tx.Dialect, msgs, catalog, exact)
			if err != nil {
				return err
			}
			if err := p.writeTx(ctx, tx); err != nil {
				return err
			}
		}
		if f == nil {
			return nil
		}
		return f.AckTx(ctx, tx, msgs)
	})
}

func relevant(msgs []webhook.Message) bool {
	for _, m := range msgs {
		switch m.Topic {
		case webhook.TopicCreditCreated, webhook.TopicCreditReversed, TopicCampaignJoined:
			return true
		}
	}
	return false
}

// errStale is writeTx finding honor_refs not as its plan assumed (see
// Service.plan).
var errStale = errors.New("medals: the batch's refs are not as planned")

// writeTx writes p: the new refs, the reversal flags, the campaign
// counters, the counters' changes and the streaks (flushTx), and the new
// medals with a medal.awarded message each. The primary key of
// honor_medals and RETURNING make a medal awarded, and announced, exactly
// once.
func (p *plan) writeTx(ctx context.Context, tx *store.Tx) error {
	if len(p.refs) > 0 {
		n := 0
		if err := qInsertRefs.Run(ctx, tx, []any{p.refs}, func(func(...any) error) error { n++; return nil }); err != nil {
			return fmt.Errorf("medals: %w", err)
		}
		if n != len(p.refs) {
			return errStale
		}
	}
	if len(p.reversed) > 0 {
		text, arg := `UPDATE honor_refs SET reversed = 1 WHERE ref = ANY($1::text[]) AND reversed = 0`, any(p.reversed)
		if tx.Dialect == store.SQLite {
			b, err := json.Marshal(p.reversed)
			if err != nil {
				return err
			}
			text, arg = `UPDATE honor_refs SET reversed = 1 WHERE ref IN (SELECT j.value FROM json_each(?1) AS j) AND reversed = 0`, string(b)
		}
		res, err := tx.ExecContext(ctx, text, arg)
		if err != nil {
			return fmt.Errorf("medals: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(p.reversed)) {
			return cmp.Or(err, errStale)
		}
	}
	for _, j := range p.joins {
		if _, err := tx.ExecContext(ctx, `INSERT INTO honor_counts (account_id, kind, name, n) VALUES ($1, 'campaign', $2, 1)
			ON CONFLICT (account_id, kind, name) DO NOTHING`, j.acc, j.name); err != nil {
			return fmt.Errorf("medals: %w", err)
		}
	}
	if err := p.flushTx(ctx, tx); err != nil {
		return fmt.Errorf("medals: %w", err)
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

// add adds one credit (sign +1) or takes one back (sign -1). A zero
// occurred (a reversal message without it) changes no day.
func (f *fold) add(acc, mg, sign int64, occurred time.Time, scenario, partner string) {
	d := f.touch(acc)
	d[0] += sign * mg
	d[1] += sign
	if scenario != "" {
		f.counts[countKey{acc, "scenario", scenario}] += sign
	}
	if partner != "" {
		f.counts[countKey{acc, "partner", partner}] += sign
	}
	if !occurred.IsZero() {
		f.days[dayKey{acc, DayOf(occurred)}] += sign
	}
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

// flushTx writes the fold with one upsert per table, rows in key order
// (PostgreSQL writers then lock rows in one order), and the touched
// accounts' streaks with their stats.
func (p *plan) flushTx(ctx context.Context, tx *store.Tx) error {
	f := p.f
	accs := f.accounts()
	if len(accs) == 0 {
		return nil
	}
	n := len(accs)
	mgs, credits, streaks, bests, now := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i, a := range accs {
		d, sb := f.stats[a], p.streaks[a]
		mgs[i], credits[i], streaks[i], bests[i], now[i] = d[0], d[1], sb[0], sb[1], store.Micros(tx.Now)
	}
	if err := qUpsertStats.Run(ctx, tx, []any{accs, mgs, credits, streaks, bests, now}, nil); err != nil {
		return err
	}
	cks := make([]countKey, 0, len(f.counts))
	for k, n := range f.counts {
		if n != 0 {
			cks = append(cks, k)
		}
	}
	if len(cks) > 0 {
		slices.SortFunc(cks, func(a, b countKey) int {
			return cmp.Or(cmp.Compare(a.acc, b.acc), cmp.Compare(a.kind, b.kind), cmp.Compare(a.name, b.name))
		})
		ca, kinds, names, ns := make([]int64, len(cks)), make([]string, len(cks)), make([]string, len(cks)), make([]int64, len(cks))
		for i, k := range cks {
			ca[i], kinds[i], names[i], ns[i] = k.acc, k.kind, k.name, f.counts[k]
		}
		if err := qUpsertCounts.Run(ctx, tx, []any{ca, kinds, names, ns}, nil); err != nil {
			return err
		}
	}
	dks := make([]dayKey, 0, len(f.days))
	for k, n := range f.days {
		if n != 0 {
			dks = append(dks, k)
		}
	}
	if len(dks) == 0 {
		return nil
	}
	slices.SortFunc(dks, func(a, b dayKey) int { return cmp.Or(cmp.Compare(a.acc, b.acc), cmp.Compare(a.day, b.day)) })
	da, ds, ns := make([]int64, len(dks)), make([]int64, len(dks)), make([]int64, len(dks))
	for i, k := range dks {
		da[i], ds[i], ns[i] = k.acc, k.day, f.days[k]
	}
	return qUpsertDays.Run(ctx, tx, []any{da, ds, ns}, nil)
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

// runBatch is the most messages Run reads at once.
const runBatch = 500

// txBatch is the most messages Run applies in one writer transaction: on
// SQLite a medal transaction holds the only writer, and the intake's group
// commits wait for it.
var txBatch = 500

// Run consumes the outbox feed until ctx ends. Each batch is one writer
// transaction that applies the messages (handleTx) and moves the feed's
// cursor (webhook.Feed.AckTx), so it is applied exactly once and costs one
// commit. On SQLite every writer transaction makes the intake's group
// commit wait, so after a batch that was not full Run waits poll before it
// reads again: under a steady trickle it handles about one batch per poll
// interval instead of one per handful of messages. After a full batch (a
// backlog) it reads again at once; when the feed is empty it waits poll;
// after an error it retries in a second. Medals therefore follow a credit
// within about poll plus the batch's time.
func (s *Service) Run(ctx context.Context, poll time.Duration) error {
	return s.run(ctx, poll, poll, nil)
}

// run is Run waiting afterPartial after a batch that was not full (0:
// read again at once, as webhook.Feed.Run does); observe (if not nil) is
// called with the messages of each committed transaction.
func (s *Service) run(ctx context.Context, poll, afterPartial time.Duration, observe func([]webhook.Message)) error {
	f := webhook.NewFeed(s.db, FeedName)
	registered := false
	for {
		var msgs []webhook.Message
		err := error(nil)
		if !registered {
			err = f.Register(ctx)
			registered = err == nil
		}
		if err == nil {
			msgs, err = f.Next(ctx, runBatch)
		}
		if err == nil && len(msgs) > 0 {
			err = s.apply(ctx, f, msgs, observe)
		}
		wait := poll
		switch {
		case err != nil:
			wait = time.Second
		case len(msgs) == runBatch:
			wait = 0
		case len(msgs) > 0:
			wait = afterPartial
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// apply applies msgs and moves f's cursor past them, in transactions of at
// most txBatch messages. Each part is planned from the read pool
// (optimistically, see plan), so the writer transaction only writes; a
// part whose plan does not hold is planned again inside the transaction.
func (s *Service) apply(ctx context.Context, f *webhook.Feed, msgs []webhook.Message, observe func([]webhook.Message)) error {
	var catalog []Medal
	if relevant(msgs) {
		var err error
		if catalog, err = s.Catalog(ctx); err != nil {
			return err
		}
	}
	for len(msgs) > 0 {
		part := msgs[:min(len(msgs), txBatch)]
		msgs = msgs[len(part):]
		var p *plan
		if relevant(part) {
			var err error
			if p, err = s.plan(ctx, s.db.Read(), s.db.Dialect, part, catalog, false); err != nil {
				return err
			}
		}
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			if p != nil {
				if err := p.writeTx(ctx, tx); err != nil {
					return err
				}
			}
			return f.AckTx(ctx, tx, part)
		})
		if errors.Is(err, errStale) {
			err = s.applyTx(ctx, part, catalog, true, f)
		}
		if err != nil {
			return err
		}
		if observe != nil {
			observe(part)
		}
	}
	return nil
}
