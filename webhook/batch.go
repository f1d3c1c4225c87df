package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencarbon/opencarbon/store"
)

// topicCreditBatch marks an outbox row that holds several credit.created
// messages of one partner (EnqueueCreditsTx). Feed.Next hands
// them out one by one, as if each had a row of its own: topic
// credit.created, the body a CreditBody, and ids that are consecutive and
// end at the row's id (the row takes the ids of all its messages, so ids
// stay unique and increasing, and a cursor at the row's id is past all of
// them). No consumer ever sees this topic.
const topicCreditBatch = "credit.created[]"

// creditBatch is the body of a topicCreditBatch row: the credits of one
// partner in one transaction, column by column (decoded in one pass, with
// no per-field reflection), without what they share (partner, credit
// time), behavior and scenario names listed once, and refs only where
// they are not "evt:<partner>:<event id>": about 70 bytes a credit
// instead of 340 for a CreditBody row.
type creditBatch struct {
	CreditedAt time.Time      `json:"t"`
	Behaviors  []string       `json:"b"`
	Scenarios  []string       `json:"s"`
	EventIDs   []string       `json:"e"`
	Accounts   []int64        `json:"a"`
	Subs       []int64        `json:"u"`
	Behavior   []int          `json:"bi"`
	Scenario   []int          `json:"si"`
	MG         []int64        `json:"mg"`
	Points     []int64        `json:"p"`
	CalcIDs    []string       `json:"c"`
	OccurredAt []int64        `json:"o"` // Unix nanoseconds
	Refs       map[int]string `json:"r,omitempty"`
}

// defaultRef is the ref the intake gives a credit (intake.Ref).
func defaultRef(partner, eventID string) string { return "evt:" + partner + ":" + eventID }

// creditBlock is the most credits one topicCreditBatch row holds. On
// PostgreSQL it is also the increment of outbox_id_seq (migration 003):
// one nextval reserves the ids of a whole row, base … base+creditBlock-1,
// while another transaction draws its own block, so a row's ids are
// consecutive and no other row takes one of them.
const creditBlock = 1024

// EnqueueCreditsTx writes a credit.created message for each of bodies in
// tx, exactly as EnqueueManyTx with one Msg per body (topic credit.created,
// partner and account from the body) would be seen by a Feed, except that
// they come grouped by partner (in order of first appearance, each group
// in order). The credits of each partner go in one row (topicCreditBatch,
// up to creditBlock credits a row): one INSERT of about 90 bytes a credit
// instead of a row of 340 bytes each, which is what a 1000-event batch
// saves on the writer and in storage. Bodies must all have the same
// CreditedAt, and no ReversedAt or Reason.
func EnqueueCreditsTx(ctx context.Context, tx *store.Tx, bodies []CreditBody) error {
	if len(bodies) == 0 {
		return nil
	}
	for _, b := range bodies {
		if !b.CreditedAt.Equal(bodies[0].CreditedAt) || !b.ReversedAt.IsZero() || b.Reason != "" {
			return fmt.Errorf("outbox credits: a batch holds credits of one time, not reversed")
		}
	}
	var order []string
	byPartner := map[string][]CreditBody{}
	for _, b := range bodies {
		if _, ok := byPartner[b.Partner]; !ok {
			order = append(order, b.Partner)
		}
		byPartner[b.Partner] = append(byPartner[b.Partner], b)
	}
	var partners, rows []string
	var counts []int64
	for _, p := range order {
		for group := byPartner[p]; len(group) > 0; {
			chunk := group[:min(len(group), creditBlock)]
			group = group[len(chunk):]
			body, err := encodeCreditBatch(p, chunk)
			if err != nil {
				return err
			}
			partners, rows, counts = append(partners, p), append(rows, body), append(counts, int64(len(chunk)))
		}
	}
	now := store.Micros(tx.Now)
	if tx.Dialect == store.Postgres {
		// Each row draws its block; unnest yields the rows in order, so the
		// blocks increase along them.
		err := tx.ExecLater(ctx, `INSERT INTO outbox (id, topic, partner, account_id, body, created_at, n)
			SELECT nextval('outbox_id_seq') + c - 1, $4, p, 0, b, $5::bigint, c FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(p, c, b)`,
			partners, counts, rows, topicCreditBatch, now)
		if err != nil {
			return fmt.Errorf("outbox credits: %w", err)
		}
		return nil
	}
	// SQLite has one writer: the ids after the last one drawn are free.
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'outbox'`).Scan(&last); err != nil {
		return fmt.Errorf("outbox credits: %w", err)
	}
	for i, p := range partners {
		last += counts[i]
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (id, topic, partner, account_id, body, created_at) VALUES ($1, $2, $3, 0, $4, $5)`,
			last, topicCreditBatch, p, rows[i], now); err != nil {
			return fmt.Errorf("outbox credits: %w", err)
		}
	}
	return nil
}

// encodeCreditBatch writes the creditBatch of bodies, all of partner.
func encodeCreditBatch(partner string, bodies []CreditBody) (string, error) {
	n := len(bodies)
	cb := creditBatch{CreditedAt: bodies[0].CreditedAt, EventIDs: make([]string, n), Accounts: make([]int64, n), Subs: make([]int64, n),
		Behavior: make([]int, n), Scenario: make([]int, n), MG: make([]int64, n), Points: make([]int64, n), CalcIDs: make([]string, n), OccurredAt: make([]int64, n)}
	index := func(names map[string]int, list *[]string, s string) int {
		i, ok := names[s]
		if !ok {
			i = len(*list)
			names[s] = i
			*list = append(*list, s)
		}
		return i
	}
	bn, sn := map[string]int{}, map[string]int{}
	for i, b := range bodies {
		cb.EventIDs[i], cb.Accounts[i], cb.Subs[i], cb.MG[i], cb.Points[i], cb.CalcIDs[i] = b.EventID, b.Account, b.Sub, b.MG, b.Points, b.CalcID
		cb.Behavior[i], cb.Scenario[i] = index(bn, &cb.Behaviors, b.Behavior), index(sn, &cb.Scenarios, b.Scenario)
		cb.OccurredAt[i] = b.OccurredAt.UnixNano()
		if b.Ref != defaultRef(partner, b.EventID) {
			if cb.Refs == nil {
				cb.Refs = map[int]string{}
			}
			cb.Refs[i] = b.Ref
		}
	}
	out, err := json.Marshal(cb)
	if err != nil {
		return "", fmt.Errorf("outbox credits: %w", err)
	}
	return string(out), nil
}

// decodeCreditBatch returns the credits of a topicCreditBatch row of
// partner.
func decodeCreditBatch(partner, body string) ([]CreditBody, error) {
	var cb creditBatch
	if err := json.Unmarshal([]byte(body), &cb); err != nil {
		return nil, err
	}
	n := len(cb.EventIDs)
	for _, l := range [...]int{len(cb.Accounts), len(cb.Subs), len(cb.Behavior), len(cb.Scenario), len(cb.MG), len(cb.Points), len(cb.CalcIDs), len(cb.OccurredAt)} {
		if l != n {
			return nil, fmt.Errorf("credit batch: columns of %d and %d credits", n, l)
		}
	}
	out := make([]CreditBody, n)
	for i := range out {
		bi, si := cb.Behavior[i], cb.Scenario[i]
		if bi < 0 || bi >= len(cb.Behaviors) || si < 0 || si >= len(cb.Scenarios) {
			return nil, fmt.Errorf("credit batch: credit %d: name index out of range", i)
		}
		ref, ok := cb.Refs[i]
		if !ok {
			ref = defaultRef(partner, cb.EventIDs[i])
		}
		out[i] = CreditBody{Ref: ref, EventID: cb.EventIDs[i], Partner: partner, Account: cb.Accounts[i], Sub: cb.Subs[i],
			Behavior: cb.Behaviors[bi], Scenario: cb.Scenarios[si], MG: cb.MG[i], Points: cb.Points[i], CalcID: cb.CalcIDs[i],
			OccurredAt: time.Unix(0, cb.OccurredAt[i]).UTC(), CreditedAt: cb.CreditedAt}
	}
	return out, nil
}
