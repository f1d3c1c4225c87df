package intake

import (
	"fmt"

	"github.com/opencarbon/opencarbon/audit"
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
// rows (with their acts), calc records and usage, and the credits' outbox
// messages (webhook.EnqueueCreditsTx: one row per partner).
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
	prev := w.head.Hash                         // the chain's head before the batch (decide reserves, seal hashes)
	var rows []int                              // items whose event row is written
	first := make(map[eventKey]int, len(items)) // item credited earlier in this batch
	dupOf := map[int]int{}
	for i, it := range items {
		k := eventKey{it.partner, it.ev.ID}
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
			// No ledger ref: the event row (new in this transaction, with
			// the ledger transaction's id) is the credit's idempotency key.
			credits = append(credits, credited{i, ledger.Credit{Parent: p.credit.acct, Sub: p.credit.sub, MG: o.MG, CalcID: p.credit.calcID, NewRef: true}, p.credit})
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
	w.seal(prev)
	cs := make([]ledger.Credit, len(credits))
	for n, c := range credits {
		cs[n] = c.c
	}
	res, err := ledger.CreditBatchTx(w.ctx, w.tx, cs)
	if err != nil {
		return nil, err
	}
	byItem := make(map[int]*creditRow, len(credits))
	for n, c := range credits {
		outs[c.i].Points = res[n].Points
		c.r.txID = res[n].TxID
		byItem[c.i] = c.r
	}
	if err := w.insertEvents(items, outs, rows, byItem); err != nil {
		return nil, err
	}
	bodies := make([]webhook.CreditBody, len(credits))
	for n, c := range credits {
		it, o := items[c.i], outs[c.i]
		bodies[n] = webhook.CreditBody{Ref: Ref(it.partner, it.ev.ID), EventID: it.ev.ID, Partner: it.partner, Account: c.r.acct, Sub: c.r.sub, Behavior: it.ev.Behavior,
			Scenario: c.r.scenario, MG: o.MG, Points: o.Points, CalcID: o.CalcID, OccurredAt: it.ev.OccurredAt, CreditedAt: w.tx.Now}
	}
	if err := webhook.EnqueueCreditsTx(w.ctx, w.tx, bodies); err != nil {
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
	if w.tx.Dialect == store.Postgres {
		return w.insertEventsPG(items, outs, rows, credits)
	}
	const cols = 15
	neg, err := w.negIDs(len(rows) - len(credits))
	if err != nil {
		return err
	}
	for len(rows) > 0 {
		chunk := rows[:store.WriteChunk(len(rows))]
		rows = rows[len(chunk):]
		args := make([]any, 0, (cols+2)*len(chunk))
		for _, i := range chunk {
			it, o := items[i], outs[i]
			if c := credits[i]; c != nil {
				// sub_id and calc_id stay NULL: the ledger transaction, which has
				// the row's id, holds them (see the package doc, Storage).
				args = append(args, c.txID, it.partner, it.ev.ID, it.ev.memoHash(), StatusCredited, nil, nil, c.acct, nil, w.id(it.ev.Behavior), w.id(c.scenario),
					store.Micros(it.ev.OccurredAt), o.MG, o.Points, nil, c.act, store.Micros(w.tx.Now))
			} else {
				args = append(args, neg[0], it.partner, it.ev.ID, it.ev.memoHash(), StatusRejected, o.Code, clip(o.Message, 300), nil, nil, w.id(it.ev.Behavior), nil,
					store.Micros(it.ev.OccurredAt), 0, 0, nil, nil, store.Micros(w.tx.Now))
				neg = neg[1:]
			}
		}
		q := store.ValuesSQL(w.tx.Dialect, `INSERT INTO intake_events (id, partner, event_id, body_hash, status, code, message, account_id, sub_id, behavior_id, scenario_id, occurred_at, mg, points, calc_id, act_key, created_at) VALUES`,
			len(chunk), cols+2, ``)
		if err := w.exec(q, args...); err != nil {
			return fmt.Errorf("record events: %w", err)
		}
	}
	return nil
}

// insertEventsPG is insertEvents on PostgreSQL: one INSERT from arrays
// (one parameter per column), which the server parses and plans in a
// fraction of the time of a VALUES list of 16 parameters a row. A credit's
// row also leaves mg, points and created_at NULL (intake migration 8): its
// ledger transaction holds the same three in its head (CreditBatchTx), and
// the readers take them from there, as sub_id and calc_id; 24 bytes an
// event. Its status is NULL too (migration 10): the transaction makes it
// a credit. The rows go in id order, so the primary key fills its pages as
// the ledger's does.
func (w *writer) insertEventsPG(items []item, outs []Outcome, rows []int, credits map[int]*creditRow) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	partners, ids, hashes := make([]string, n), make([]string, n), make([]string, n)
	statuses, codes, msgs, acts := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	accts, scenarios := make([]*int64, n), make([]*int64, n)
	behaviors, occurred := make([]int64, n), make([]int64, n)
	mgs, points, created := make([]*int64, n), make([]*int64, n), make([]*int64, n)
	eventIDs := make([]int64, n)
	now := store.Micros(w.tx.Now)
	neg, err := w.negIDs(n - len(credits))
	if err != nil {
		return err
	}
	for k, i := range rows {
		it, o := items[i], outs[i]
		partners[k], ids[k], hashes[k] = it.partner, it.ev.ID, it.ev.memoHash()
		behaviors[k], occurred[k] = w.id(it.ev.Behavior), store.Micros(it.ev.OccurredAt)
		if c := credits[i]; c != nil {
			// status, sub_id, calc_id, mg, points and created_at stay
			// NULL, as above: the ledger transaction with the same id
			// holds them, and makes the row a credit.
			acct, scen := c.acct, w.id(c.scenario)
			accts[k], scenarios[k] = &acct, &scen
			eventIDs[k] = c.txID
			if a, ok := c.act.(string); ok {
				acts[k] = &a
			}
		} else {
			code, msg, status := o.Code, clip(o.Message, 300), StatusRejected
			var zero int64
			statuses[k], codes[k], msgs[k], eventIDs[k] = &status, &code, &msg, neg[0]
			mgs[k], points[k], created[k] = &zero, &zero, &now
			neg = neg[1:]
		}
	}
	err = w.tx.ExecLater(w.ctx, `INSERT INTO intake_events (partner, event_id, body_hash, status, code, message, account_id, behavior_id, scenario_id, occurred_at, mg, points, act_key, created_at, id)
		SELECT p, e, h, st, c, m, a, b, sc, o, mg, pt, ak, ca, i FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
			$7::bigint[], $8::int[], $9::int[], $10::bigint[], $11::bigint[], $12::bigint[], $13::text[], $14::bigint[], $15::bigint[]) AS u(p, e, h, st, c, m, a, b, sc, o, mg, pt, ak, ca, i)
		ORDER BY i`,
		partners, ids, hashes, statuses, codes, msgs, accts, behaviors, scenarios, occurred, mgs, points, acts, created, eventIDs)
	if err != nil {
		return fmt.Errorf("record events: %w", err)
	}
	return nil
}

// seal chains and encodes the calc records the batch reserved, after the
// record whose hash is prev, on a goroutine of its own: the hash chain is
// sequential, and nothing before finish needs it, so it runs while the
// writer posts the ledger and writes the event rows.
func (w *writer) seal(prev string) {
	rows := w.calcRows
	w.sealed = make(chan sealResult, 1)
	go func() {
		h, err := audit.Seal(prev, rows)
		w.sealed <- sealResult{h, err}
	}()
}
