// Package webhook is the transactional outbox and the signed delivery of
// its messages to partners.
//
// A change and the message announcing it are written in the same
// transaction (EnqueueTx); consumers (webhook delivery, leaderboards, medal
// checks) read the outbox after commit through a Feed with a durable cursor,
// so a message is never lost and never seen before its change is durable.
// Delivery is at least once (Ack is a transaction of its own after the
// consumer's), so consumers must be idempotent, unless they do their work
// and move the cursor in one transaction (AckTx): then exactly once.
//
// The package never changes domain tables; it only moves messages.
package webhook

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencarbon/opencarbon/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the outbox's schema.
var Migrations = store.Component{Name: "webhook", FS: migrations, Dir: "migrations"}

// Topics of outbox messages.
const (
	TopicCreditCreated   = "credit.created"
	TopicCreditReversed  = "credit.reversed"
	TopicVoucherIssued   = "voucher.issued"
	TopicVoucherRedeemed = "voucher.redeemed"
	TopicPointsExpiring  = "points.expiring"
	TopicMedalAwarded    = "medal.awarded"
)

// Message is one outbox message.
type Message struct {
	ID      int64  `json:"id"`
	Topic   string `json:"topic"`
	Partner string `json:"partner,omitempty"`
	Account int64  `json:"account,omitempty"`
	// Body is the message's JSON body, except for the credits that
	// Feed.Next reads from a credit batch row: their Body is nil, Data
	// encodes it and Credit returns it decoded, so a consumer that needs
	// no JSON (the leaderboards, medals, dashboard) encodes none.
	Body      json.RawMessage `json:"body"`
	CreatedAt time.Time       `json:"created_at"`
	txid      int64
	credit    *CreditBody // decoded from a batch row
}

// Data returns the message's JSON body: Body, or a batch row's credit
// encoded as EnqueueTx would have written it on a row of its own.
func (m Message) Data() (json.RawMessage, error) {
	if m.Body != nil || m.credit == nil {
		return m.Body, nil
	}
	return marshalBody(*m.credit)
}

// MarshalJSON writes the message with its body (Data).
func (m Message) MarshalJSON() ([]byte, error) {
	type plain Message
	b, err := m.Data()
	if err != nil {
		return nil, err
	}
	p := plain(m)
	p.Body = b
	return json.Marshal(p)
}

// Credit returns the CreditBody of a credit.created or credit.reversed
// message: the one Feed.Next decoded from a batch row, or Body decoded.
// A copy of a message whose Body is then changed still returns the credit
// Next decoded.
func (m Message) Credit() (CreditBody, error) {
	if m.credit != nil {
		return *m.credit, nil
	}
	var b CreditBody
	err := json.Unmarshal(m.Body, &b)
	return b, err
}

// EnqueueTx writes a message in tx. partner names the partner whose
// webhook receives it ("" for internal-only messages); account is the
// parent account concerned (0 if none); body is marshalled to JSON.
func EnqueueTx(ctx context.Context, tx *store.Tx, topic, partner string, account int64, body any) error {
	b, err := marshalBody(body)
	if err != nil {
		return fmt.Errorf("outbox %s: %w", topic, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO outbox (topic, partner, account_id, body, created_at) VALUES ($1, $2, $3, $4, $5)`,
		topic, partner, account, string(b), store.Micros(tx.Now))
	if err != nil {
		return fmt.Errorf("outbox %s: %w", topic, err)
	}
	return nil
}

// Msg is one message to enqueue with EnqueueManyTx; its fields mean what
// EnqueueTx's arguments mean.
type Msg struct {
	Topic   string
	Partner string
	Account int64
	Body    any
}

// enqueueChunk bounds the rows of one INSERT: 5 parameters a row stays far
// under SQLite's 32,766 and PostgreSQL's 65,535 parameters per statement.
const enqueueChunk = 500

// EnqueueManyTx writes msgs in tx with multi-row INSERTs, in order (ids
// increase along msgs), exactly as if EnqueueTx were called for each.
func EnqueueManyTx(ctx context.Context, tx *store.Tx, msgs []Msg) error {
	now := store.Micros(tx.Now)
	if tx.Dialect == store.Postgres && len(msgs) > 0 {
		return enqueuePG(ctx, tx, msgs, now)
	}
	var sb strings.Builder
	for len(msgs) > 0 {
		chunk := msgs[:min(len(msgs), enqueueChunk)]
		msgs = msgs[len(chunk):]
		sb.Reset()
		sb.WriteString(`INSERT INTO outbox (topic, partner, account_id, body, created_at) VALUES `)
		args := make([]any, 0, 5*len(chunk))
		for i, m := range chunk {
			b, err := marshalBody(m.Body)
			if err != nil {
				return fmt.Errorf("outbox %s: %w", m.Topic, err)
			}
			if i > 0 {
				sb.WriteString(", ")
			}
			if tx.Dialect == store.SQLite {
				// Positional: the SQLite driver resolves each $N by name,
				// which costs O(parameters) per parameter.
				sb.WriteString("(?, ?, ?, ?, ?)")
			} else {
				n := len(args)
				fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5)
			}
			args = append(args, m.Topic, m.Partner, m.Account, string(b), now)
		}
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	return nil
}

// enqueuePG is EnqueueManyTx on PostgreSQL: one INSERT from arrays, in
// the order of msgs (ids are drawn in ordinality order).
func enqueuePG(ctx context.Context, tx *store.Tx, msgs []Msg, now int64) error {
	topics, partners, bodies := make([]string, len(msgs)), make([]string, len(msgs)), make([]string, len(msgs))
	accts := make([]int64, len(msgs))
	for i, m := range msgs {
		b, err := marshalBody(m.Body)
		if err != nil {
			return fmt.Errorf("outbox %s: %w", m.Topic, err)
		}
		topics[i], partners[i], accts[i], bodies[i] = m.Topic, m.Partner, m.Account, string(b)
	}
	err := tx.ExecLater(ctx, `INSERT INTO outbox (topic, partner, account_id, body, created_at)
		SELECT t, p, a, b, $5::bigint FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) WITH ORDINALITY AS u(t, p, a, b, n) ORDER BY n`,
		topics, partners, accts, bodies, now)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// feedBatch is the most messages Run hands to one call of handle.
const feedBatch = 500

// marshalBody is json.Marshal, with a fast path for credit bodies.
func marshalBody(body any) ([]byte, error) {
	if cb, ok := body.(CreditBody); ok {
		if b, ok := cb.appendJSON(make([]byte, 0, 320)); ok {
			return b, nil
		}
	}
	return json.Marshal(body)
}

// Feed is one named consumer's durable position in the outbox.
type Feed struct {
	db   *store.DB
	name string
}

// NewFeed returns the feed of consumer name.
func NewFeed(db *store.DB, name string) *Feed { return &Feed{db: db, name: name} }

// Next returns up to max messages after the consumer's cursor, oldest
// first (more than max only when one outbox row holds more: the credits
// of one batch, see EnqueueCreditsTx, are returned together), once they
// are durable. It does not move the cursor: call Ack after handling them.
func (f *Feed) Next(ctx context.Context, max int) ([]Message, error) {
	var ct, cid int64
	err := f.db.Read().QueryRowContext(ctx, `SELECT txid, last_id FROM outbox_cursors WHERE consumer = $1`, f.name).Scan(&ct, &cid)
	if err != nil && !isNoRows(err) {
		return nil, fmt.Errorf("feed %s: %w", f.name, err)
	}
	// SQLite has one writer, so ids commit in order and the cursor is the id
	// alone (an index range). PostgreSQL orders by writing transaction and
	// reads only transactions older than every writing transaction still
	// running (see the txid column). PostgreSQL also sends every row up to
	// the LIMIT, so a row's body comes only while the messages before it
	// (those after the cursor, see fresh) number fewer than max; the first
	// row without one ends the read. SQLite steps one row at a time.
	q := `SELECT id, txid, topic, partner, account_id, body, created_at FROM outbox
		WHERE id > $2 AND $1 = $1 ORDER BY id LIMIT $3`
	if f.db.Dialect == store.Postgres {
		q = nextPG
	}
	rows, err := f.db.Read().QueryContext(ctx, q, ct, cid, max)
	if err != nil {
		return nil, fmt.Errorf("feed %s: %w", f.name, err)
	}
	defer rows.Close()
	var out []Message
	for len(out) < max && rows.Next() {
		var m Message
		var nbody sql.NullString
		var at int64
		if err := rows.Scan(&m.ID, &m.txid, &m.Topic, &m.Partner, &m.Account, &nbody, &at); err != nil {
			return nil, fmt.Errorf("feed %s: %w", f.name, err)
		}
		if !nbody.Valid {
			break // past max (PostgreSQL)
		}
		body := nbody.String
		m.CreatedAt = store.Time(at)
		if m.Topic != topicCreditBatch {
			m.Body = json.RawMessage(body)
			out = append(out, m)
			continue
		}
		bodies, err := decodeCreditBatch(m.Partner, body)
		if err != nil {
			return nil, fmt.Errorf("feed %s: outbox row %d: %w", f.name, m.ID, err)
		}
		// The row's messages have the ids up to its own; the cursor may
		// stand between them (a consumer acked part of the row).
		first := m.ID - int64(len(bodies)) + 1
		for i := range bodies {
			b := &bodies[i]
			id := first + int64(i)
			if m.txid == ct && id <= cid {
				continue
			}
			out = append(out, Message{ID: id, Topic: TopicCreditCreated, Partner: b.Partner, Account: b.Account, CreatedAt: m.CreatedAt, txid: m.txid, credit: b})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("feed %s: %w", f.name, err)
	}
	// On SQLite a commit is visible a moment before it is durable
	// (store.DB.Durable): consumers act on the messages outside the
	// database (webhooks, leaderboards, medals), so only once they are.
	if len(out) > 0 {
		if err := f.db.Durable(); err != nil {
			return nil, fmt.Errorf("feed %s: %w", f.name, err)
		}
	}
	return out, nil
}

// nextPG is Next's read on PostgreSQL: up to $3 rows after the cursor
// ($1, $2), with a body while fewer than $3 messages come before the row.
const nextPG = `SELECT id, txid, topic, partner, account_id, CASE WHEN before < $3 THEN body END, created_at FROM (
	SELECT *, SUM(fresh) OVER (ORDER BY txid, id ROWS UNBOUNDED PRECEDING) - fresh AS before FROM (
		SELECT id, txid, topic, partner, account_id, body, created_at,
			n - CASE WHEN txid = $1 AND id - n < $2 THEN $2 - (id - n) ELSE 0 END AS fresh
		FROM outbox
		WHERE (txid, id) > ($1, $2) AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
		ORDER BY txid, id LIMIT $3) r) s
ORDER BY txid, id`

// Ack moves the cursor past m (the last message handled).
func (f *Feed) Ack(ctx context.Context, m Message) error {
	return f.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO outbox_cursors (consumer, txid, last_id, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (consumer) DO UPDATE SET txid = excluded.txid, last_id = excluded.last_id, updated_at = excluded.updated_at`,
			f.name, m.txid, m.ID, store.Micros(tx.Now))
		return err
	})
}

// ErrCursorMoved is returned by AckTx when the cursor is already at or
// past the batch's first message: another process consuming the same feed
// handled the batch (or part of it) first. The caller's transaction must
// be rolled back; the next Next reads after the new cursor.
var ErrCursorMoved = errors.New("feed cursor moved past the batch")

// AckTx moves the cursor past msgs (one batch from Next, oldest first) in
// tx, the consumer's own transaction: the batch's changes and the cursor
// commit together, so a consumer that does its work in tx handles every
// message exactly once, and a batch costs one writer transaction instead
// of two (the work, then Ack). It moves the cursor only if it is still
// before msgs[0] (ErrCursorMoved otherwise), so two processes reading the
// same feed never both commit one batch. With no cursor row (never
// registered, or deleted by hand) it creates one.
func (f *Feed) AckTx(ctx context.Context, tx *store.Tx, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	first, last := msgs[0], msgs[len(msgs)-1]
	res, err := tx.ExecContext(ctx, `INSERT INTO outbox_cursors (consumer, txid, last_id, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (consumer) DO UPDATE SET txid = excluded.txid, last_id = excluded.last_id, updated_at = excluded.updated_at
		WHERE (outbox_cursors.txid, outbox_cursors.last_id) < ($5, $6)`,
		f.name, last.txid, last.ID, store.Micros(tx.Now), first.txid, first.ID)
	if err != nil {
		return fmt.Errorf("feed %s: ack: %w", f.name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("feed %s: ack: %w", f.name, err)
	} else if n == 0 {
		return fmt.Errorf("feed %s: %w", f.name, ErrCursorMoved)
	}
	return nil
}

// Register records the consumer's cursor at the start of the outbox if it
// has none yet, so Prune keeps every message until the consumer acks.
// Run calls it before its first read.
func (f *Feed) Register(ctx context.Context) error {
	return f.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO outbox_cursors (consumer, txid, last_id, updated_at) VALUES ($1, 0, 0, $2)
			ON CONFLICT (consumer) DO NOTHING`, f.name, store.Micros(tx.Now))
		return err
	})
}

// Run calls handle with batches of new messages until ctx ends, acking each
// batch after handle returns nil. A failing batch is retried after a pause.
// poll is the wait before the next read unless the last read was a full
// batch (then it reads again at once, to catch up): under a steady stream
// a consumer runs at most one batch per poll, instead of one small batch
// after another, each of them transactions on the writer that the intake
// also needs.
func (f *Feed) Run(ctx context.Context, poll time.Duration, handle func(context.Context, []Message) error) error {
	registered := false
	for {
		var msgs []Message
		err := error(nil)
		if !registered {
			err = f.Register(ctx)
			registered = err == nil
		}
		if err == nil {
			msgs, err = f.Next(ctx, feedBatch)
		}
		if err == nil && len(msgs) > 0 {
			if err = handle(ctx, msgs); err == nil {
				err = f.Ack(ctx, msgs[len(msgs)-1])
			}
		}
		wait := poll
		if err != nil {
			wait = time.Second
		} else if len(msgs) >= feedBatch {
			wait = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// DefaultRetention is how long Prune keeps a message after every consumer
// has acknowledged it: long enough to replay a day's messages by hand
// (moving a cursor back) after a consumer bug.
const DefaultRetention = 24 * time.Hour

// pruneRows and pruneMessages bound what one pruning transaction deletes,
// so pruning never holds the (SQLite: single) writer for long: at most
// pruneRows rows holding about pruneMessages messages. A credit batch row
// holds up to creditBlock messages in about 60 KB: deleting 1,000 such rows
// in one transaction held SQLite's writer for 113 ms.
const (
	pruneRows     = 5000
	pruneMessages = 20_000
)

// Prune deletes outbox messages that every consumer has acknowledged and
// that are older than olderThan (DefaultRetention if olderThan <= 0), in
// transactions of at most 5,000 rows and about 20,000 messages (at least
// one row), and returns how many rows it deleted.
//
// A message is acknowledged by every consumer when it is at or behind the
// cursor of every row of outbox_cursors, and every name in required has a
// cursor row: a consumer that has never acked holds every message (Run
// writes its cursor row before its first read, and required covers the
// consumers that have not started yet). A consumer that is retired for good
// keeps holding messages until its outbox_cursors row is deleted.
func Prune(ctx context.Context, db *store.DB, olderThan time.Duration, required ...string) (int64, error) {
	if olderThan <= 0 {
		olderThan = DefaultRetention
	}
	var total int64
	for {
		var n int64
		err := db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			n, err = pruneTx(ctx, tx, olderThan, required)
			return err
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("outbox prune: %w", err)
		}
		if n == 0 {
			return total, nil
		}
	}
}

// pruneTx deletes one transaction's share of what Prune deletes and
// returns how many rows it deleted.
func pruneTx(ctx context.Context, tx *store.Tx, olderThan time.Duration, required []string) (int64, error) {
	have := map[string]bool{}
	var minTx, minID int64
	rows, err := tx.QueryContext(ctx, `SELECT consumer, txid, last_id FROM outbox_cursors`)
	if err != nil {
		return 0, err
	}
	first := true
	for rows.Next() {
		var name string
		var t, id int64
		if err := rows.Scan(&name, &t, &id); err != nil {
			rows.Close()
			return 0, err
		}
		have[name] = true
		if first || t < minTx || (t == minTx && id < minID) {
			minTx, minID, first = t, id, false
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if first {
		return 0, nil // no consumer has ever read: nothing is acknowledged
	}
	for _, r := range required {
		if !have[r] {
			return 0, nil
		}
	}
	cutoff := store.Micros(tx.Now.Add(-olderThan))
	q := pruneSQLite
	if tx.Dialect == store.Postgres {
		q = prunePG
	}
	res, err := tx.ExecContext(ctx, q, minTx, minID, cutoff, pruneRows, pruneMessages)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// The deletes of pruneTx: the oldest rows behind the cursor ($1, $2) and
// older than the cutoff ($3), at most $4 of them, holding about $5
// messages.
//
// SQLite's cursor is the id alone (txid is always 0), and its ids have no
// gaps, so $5 ids from the oldest row's hold at most $5 messages and that
// row's own. The window is one bound on the id, so the rowid range ends
// there: with two, SQLite ranged up to the cursor and filtered the rest,
// 73–83 ms on 300,000 acknowledged rows too young to prune, 4–5 ms now.
// (A row's later columns, created_at among them, are read through the
// overflow pages of its body: a bound on the rows alone would read up to
// $4 bodies in every transaction.)
//
// PostgreSQL's cursor is (txid, id), the order its feeds read in, and its
// ids have gaps (blocks of creditBlock, see migration 3), so the rows stop
// once $5 messages come before one, counted by their n.
const (
	pruneSQLite = `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox
		WHERE id <= min($2, (SELECT MIN(id) FROM outbox) + $5 - 1) AND $1 = $1 AND created_at < $3 ORDER BY id LIMIT $4)`
	prunePG = `DELETE FROM outbox WHERE id IN (SELECT id FROM (
		SELECT id, SUM(n) OVER (ORDER BY txid, id ROWS UNBOUNDED PRECEDING) - n AS before FROM (
			SELECT id, txid, n FROM outbox WHERE (txid, id) <= ($1, $2) AND created_at < $3 ORDER BY txid, id LIMIT $4) AS r) AS w
		WHERE before < $5)`
)

// RunPrune calls Prune every interval until ctx ends, logging nothing
// itself: errors go to onErr (may be nil) and the next round retries.
func RunPrune(ctx context.Context, db *store.DB, interval, olderThan time.Duration, onErr func(error), required ...string) {
	for {
		if _, err := Prune(ctx, db, olderThan, required...); err != nil && onErr != nil && ctx.Err() == nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
