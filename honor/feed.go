package honor

import (
	"context"
	"time"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/webhook"
)

// TopicCampaignJoined is the campaign package's internal campaign.joined
// topic (campaign.TopicJoined), read here for participation medals.
const TopicCampaignJoined = "campaign.joined"

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

// HandleMessages is the feed handler: for every account that a
// credit.created, credit.reversed or campaign.joined message names, it
// derives the stats from the account's credits as they are now (see
// plan), records a campaign joined, and awards the medals whose rules now
// hold, with a medal.awarded message each. A replayed message changes
// nothing.
//
// The reads (the credits through intake.Activity, and the medals, campaigns
// and streak records of the touched accounts) run on the read pool, outside
// the writer transaction, in a fixed number of queries whatever the batch's
// size; the transaction then writes only what changed: campaigns joined,
// streak records that grew and new medals (writeTx). The statements' texts
// do not depend on the batch's size (see store.BulkRead and
// store.BulkWrite), so each is parsed once, not once per batch.
func (s *Service) HandleMessages(ctx context.Context, msgs []webhook.Message) error {
	if !relevant(msgs) {
		return nil
	}
	catalog, err := s.Catalog(ctx)
	if err != nil {
		return err
	}
	return s.applyTx(ctx, msgs, catalog, nil)
}

// applyTx plans msgs on the read pool and writes the plan in one writer
// transaction; if f is not nil it moves f's cursor past msgs in the same
// transaction, so the batch is applied exactly once (a batch another
// consumer has acked meanwhile is refused by AckTx, and rolled back).
func (s *Service) applyTx(ctx context.Context, msgs []webhook.Message, catalog []Medal, f *webhook.Feed) error {
	var p *plan
	if relevant(msgs) {
		var err error
		if p, err = s.plan(ctx, msgs, catalog); err != nil {
			return err
		}
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if p != nil {
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

// txBatch is the most messages Run applies in one writer transaction.
var txBatch = 500

// Run consumes the outbox feed until ctx ends. Each batch is planned on
// the read pool and then written, with the feed's cursor
// (webhook.Feed.AckTx), in one writer transaction, so it is applied
// exactly once and costs one commit. On SQLite every writer transaction
// makes the intake's group commit wait, so after a batch that was not full
// Run waits poll before it reads again: under a steady trickle it handles
// about one batch per poll interval instead of one per handful of
// messages. After a full batch (a backlog) it reads again at once; when
// the feed is empty it waits poll; after an error it retries in a second.
// Medals therefore follow a credit within about poll plus the batch's
// time.
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
		case len(msgs) >= runBatch: // more when one outbox row holds more (webhook.Feed.Next)
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
// most txBatch messages (applyTx).
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
		if err := s.applyTx(ctx, part, catalog, f); err != nil {
			return err
		}
		if observe != nil {
			observe(part)
		}
	}
	return nil
}
