package intake

import (
	"fmt"
	"strings"

	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/webhook"
)

// item is one event of a batch, with the partner that sent it.
type item struct {
	partner string
	ev      *Event
}

// fast decides every event of the batch in memory and then writes the
// batch set-based: one ledger.CreditBatchTx, multi-row inserts of the event
// rows, calc records, acts and usage, and the credits' outbox messages
// (webhook.EnqueueManyTx: one INSERT per 500).
// It uses no savepoints, so any SQL error fails the whole attempt: the
// caller then rolls back and runs the batch again event by event, each in
// its own savepoint (slow path), so one event's failure still never
// poisons the others.
func (w *writer) fast(items []item) ([]Outcome, error) {
	outs := make([]Outcome, len(items))
	type credited struct {
		i int
		c ledger.Credit
		r *creditRow
	}
	if err := w.intern(items); err != nil {
		return nil, err
	}
	if err := w.prefetchUsage(items); err != nil {
		return nil, err
	}
	var credits []credited
	var rows []int            // items whose event row is written
	first := map[string]int{} // partner \x00 event_id → item credited earlier in this batch
	dupOf := map[int]int{}
	for i, it := range items {
		k := it.partner + "\x00" + it.ev.ID
		orig, inBatch := first[k]
		head := w.head
		var p pending
		o, err := w.decide(it.partner, it.ev, &head, &p, true)
		if err != nil {
			return nil, err
		}
		w.head = head
		if inBatch && o.Status == StatusDuplicate {
			dupOf[i] = orig
		}
		if p.credit != nil {
			credits = append(credits, credited{i, ledger.Credit{Parent: p.credit.acct, Sub: p.credit.sub, MG: o.MG, Ref: Ref(it.partner, it.ev.ID), CalcID: p.credit.calcID}, p.credit})
		}
		if p.credit != nil || p.reject != nil {
			rows = append(rows, i)
			first[k] = i
		}
		outs[i] = w.keep(it.partner, it.ev, o, &p)
	}
	if w.err != nil {
		return nil, w.err
	}
	cs := make([]ledger.Credit, len(credits))
	for n, c := range credits {
		cs[n] = c.c
	}
	res, err := ledger.CreditBatchTx(w.ctx, w.tx, cs)
	if err != nil {
		return nil, err
	}
	byItem := map[int]*creditRow{}
	for n, c := range credits {
		outs[c.i].Points = res[n].Points
		byItem[c.i] = c.r
	}
	if err := w.insertEvents(items, outs, rows, byItem); err != nil {
		return nil, err
	}
	msgs := make([]webhook.Msg, len(credits))
	for n, c := range credits {
		it, o := items[c.i], outs[c.i]
		msgs[n] = webhook.Msg{Topic: webhook.TopicCreditCreated, Partner: it.partner, Account: c.r.acct, Body: webhook.CreditBody{
			Ref: c.c.Ref, EventID: it.ev.ID, Partner: it.partner, Account: c.r.acct, Sub: c.r.sub, Behavior: it.ev.Behavior,
			Scenario: c.r.scenario, MG: o.MG, Points: o.Points, CalcID: o.CalcID, OccurredAt: it.ev.OccurredAt, CreditedAt: w.tx.Now}}
	}
	if err := webhook.EnqueueManyTx(w.ctx, w.tx, msgs); err != nil {
		return nil, err
	}
	for i, orig := range dupOf {
		outs[i].MG, outs[i].Points, outs[i].CalcID = outs[orig].MG, outs[orig].Points, outs[orig].CalcID
	}
	return outs, nil
}

// insertEvents writes the event rows of credits and remembered rejections
// with multi-row INSERTs.
func (w *writer) insertEvents(items []item, outs []Outcome, rows []int, credits map[int]*creditRow) error {
	const cols = 14
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), 150)]
		rows = rows[len(chunk):]
		var sb strings.Builder
		sb.WriteString(`INSERT INTO intake_events (partner, event_id, body_hash, status, code, message, account_id, sub_id, behavior_id, scenario_id, occurred_at, mg, points, calc_id, act_key, created_at) VALUES `)
		args := make([]any, 0, (cols+2)*len(chunk))
		for _, i := range chunk {
			it, o := items[i], outs[i]
			if c := credits[i]; c != nil {
				args = append(args, it.partner, it.ev.ID, it.ev.memoHash(), StatusCredited, nil, nil, c.acct, c.sub, w.id(it.ev.Behavior), w.id(c.scenario),
					store.Micros(it.ev.OccurredAt), o.MG, o.Points, o.CalcID, c.act, store.Micros(w.tx.Now))
			} else {
				args = append(args, it.partner, it.ev.ID, it.ev.memoHash(), StatusRejected, o.Code, clip(o.Message, 300), nil, nil, w.id(it.ev.Behavior), nil,
					store.Micros(it.ev.OccurredAt), 0, 0, nil, nil, store.Micros(w.tx.Now))
			}
		}
		values(&sb, w.tx.Dialect, len(chunk), cols+2)
		if err := w.exec(sb.String(), args...); err != nil {
			return fmt.Errorf("record events: %w", err)
		}
	}
	return nil
}
