package intake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/audit"
	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/webhook"
)

// remembered lists the rejection codes stored for duplicate answers; the
// others are transient (see the package doc).
var remembered = map[string]bool{
	oc.ENotApplicable: true, oc.EParamOutOfRange: true, oc.EMissingEvidence: true,
	oc.EReporterNotAllowed: true, oc.ECapReached: true, oc.EExcludedBy: true, oc.ETooOld: true,
}

// Remembered reports whether a rejection with code is stored (a row in
// intake_events), so that a repeat of the event gets the same answer.
func Remembered(code string) bool { return remembered[code] }

// writer processes the events of one group-commit transaction. Within the
// transaction it remembers what it read (remembered events, resolved
// accounts, cap usage), which is safe because nothing else can change those
// rows before it commits: on SQLite it is the only writer; on PostgreSQL
// ResolveTx holds the sub-account FOR SHARE and the usage lock is held until
// commit.
type writer struct {
	ctx  context.Context
	tx   *store.Tx
	s    *Service
	eng  *methodology.Engine
	head audit.Head

	known    map[eventKey]Outcome // remembered outcome, as a duplicate answer
	hashes   map[eventKey]string  // body hash of the remembered event
	resolved map[account.Key]resolution
	used     map[usageKey]*usageYear // cap usage read or credited in this transaction
	locked   map[int64]bool          // PostgreSQL usage locks held

	// storedActs holds, for the (account, act) pairs prefetched by the
	// fast path, the behaviors already stored for them.
	storedActs map[actPair]map[string]bool

	names  map[string]int64 // interned behavior and scenario names (names.go)
	nameOf map[int64]string
	err    error // a failure found while building rows; fails finish
	// The fast path's calc records, chained and encoded (audit.Seal) on
	// another goroutine while the batch's other statements run; finish
	// waits for it.
	sealed chan sealResult

	// Rows of kept events written with multi-row INSERTs in finish, and
	// their acts, which their event rows carry (kept here for the events
	// later in the batch).
	calcRows []audit.Row
	acts     map[actRow]bool
	usageAdd map[usageRow]int64 // mg added per row (events counted in usageN)
	usageN   map[usageRow]int64
}

// eventKey is an event's idempotency key: (partner, event_id).
type eventKey struct{ partner, id string }

type sealResult struct {
	hash string
	err  error
}

type resolution struct {
	acct, sub int64
	err       error
}

// newWriter starts the writer of a transaction of about n events (its
// maps are sized for them: growing them was 6 % of the writer's time).
func newWriter(ctx context.Context, tx *store.Tx, s *Service, eng *methodology.Engine, shardID, n int) (*writer, error) {
	head, err := audit.HeadTx(ctx, tx, shardID)
	if err != nil {
		return nil, err
	}
	w := &writer{ctx: ctx, tx: tx, s: s, eng: eng, head: head,
		known: make(map[eventKey]Outcome, n), hashes: make(map[eventKey]string, n), resolved: make(map[account.Key]resolution, n/4),
		used: make(map[usageKey]*usageYear, n/2), locked: map[int64]bool{},
		acts: make(map[actRow]bool, n), usageAdd: make(map[usageRow]int64, n/2), usageN: make(map[usageRow]int64, n/2),
		names: map[string]int64{}, nameOf: map[int64]string{}}
	if tx.Dialect == store.Postgres {
		s.names.fill(w.names, w.nameOf)
	}
	return w, nil
}

// finish writes the rows buffered by the batch and stores the chain head
// it reached.
func (w *writer) finish() error {
	if w.sealed != nil {
		r := <-w.sealed
		w.sealed = nil
		if r.err != nil {
			return r.err
		}
		w.head.Hash = r.hash
	}
	if w.err != nil {
		return w.err
	}
	if err := audit.InsertTx(w.ctx, w.tx, w.calcRows); err != nil {
		return err
	}
	if err := w.flushUsage(); err != nil {
		return err
	}
	return audit.SetHeadTx(w.ctx, w.tx, w.head)
}

// exec and queryRow run the writer's statements; store.Tx keeps the ones
// that repeat prepared.
func (w *writer) exec(q string, args ...any) error {
	_, err := w.tx.ExecContext(w.ctx, q, args...)
	return err
}

func (w *writer) queryRow(q string, args ...any) *sql.Row {
	return w.tx.QueryRowContext(w.ctx, q, args...)
}

// prefetch loads the remembered outcomes of the batch's event ids in a few
// queries instead of one per event.
func (w *writer) prefetch(partner string, ids []string) error {
	for len(ids) > 0 {
		var rows *sql.Rows
		var err error
		if w.tx.Dialect == store.Postgres {
			// One probe of intake_events_key per id whatever the
			// statistics say (OFFSET 0 keeps the planner from flattening
			// the lookup into a join).
			// On a table not yet analyzed, an IN list of 400 parameters
			// was planned as a scan of all the partner's rows, each tested
			// against the list: 2.2 s for 32,000 rows (EXPLAIN ANALYZE).
			rows, err = w.tx.QueryContext(w.ctx, qKnownPG, partner, ids)
			ids = nil
		} else {
			take, size := store.ReadChunk(len(ids))
			args := make([]any, 1, 1+size)
			args[0] = partner
			for i := range size {
				args = append(args, ids[min(i, take-1)])
			}
			ids = ids[take:]
			rows, err = w.tx.QueryContext(w.ctx, `SELECT `+knownCols+`
			FROM intake_events e LEFT JOIN ledger_tx t ON t.id = e.id
			WHERE e.partner = ? AND e.event_id IN (`+store.Params(store.SQLite, size)+`)`, args...)
		}
		if err != nil {
			return fmt.Errorf("find events: %w", err)
		}
		for rows.Next() {
			var id, h, status string
			var code, msg, calcID sql.NullString
			var mg, points int64
			var reversed sql.NullInt64
			if err := rows.Scan(&id, &h, &status, &code, &msg, &mg, &points, &calcID, &reversed); err != nil {
				rows.Close()
				return fmt.Errorf("find events: %w", err)
			}
			k := eventKey{partner, id}
			w.known[k] = Outcome{EventID: id, Status: StatusDuplicate, Original: status, Code: code.String, Message: msg.String,
				MG: mg, Points: points, CalcID: calcID.String, Reversed: reversed.Valid}
			w.hashes[k] = h
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("find events: %w", err)
		}
	}
	return nil
}

// knownCols are the columns of a remembered outcome (e, an event row, and
// t, its ledger transaction if any) that prefetch scans.
const knownCols = `e.event_id, e.body_hash, COALESCE(e.status, 'credited'), e.code, e.message, COALESCE(e.mg, t.mg), COALESCE(e.points, t.points), COALESCE(e.calc_id, t.calc_id), e.reversed_at`

// qKnownPG reads the remembered outcomes of the event ids $2 of partner
// $1, one probe of intake_events_key each.
var qKnownPG = `SELECT ` + knownCols + `
	FROM unnest($2::text[]) AS u(id) CROSS JOIN LATERAL (SELECT * FROM intake_events
		WHERE ` + pgEventKey + ` = ` + eventDigest("$1::text", "u.id") + ` AND partner = $1 AND event_id = u.id OFFSET 0) e
	LEFT JOIN ledger_tx t ON t.id = e.id`

// negIDs returns n ids for new rows of remembered rejections. A credited
// event's row takes the id of its ledger transaction (so a person's
// entries are read from the ledger's (parent, id) index, and the event
// table needs no index per account); rejections, which have no ledger
// transaction, take negative ids: below the smallest so far on SQLite (one
// writer), from a sequence on PostgreSQL.
func (w *writer) negIDs(n int) ([]int64, error) {
	if n <= 0 {
		return nil, nil
	}
	out := make([]int64, 0, n)
	if w.tx.Dialect == store.Postgres {
		rows, err := w.tx.QueryContext(w.ctx, `SELECT -nextval('intake_events_rejected') FROM generate_series(1, $1)`, n)
		if err != nil {
			return nil, fmt.Errorf("rejection ids: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return nil, fmt.Errorf("rejection ids: %w", err)
			}
			out = append(out, id)
		}
		return out, rows.Err()
	}
	var lowest sql.NullInt64
	if err := w.queryRow(`SELECT MIN(id) FROM intake_events`).Scan(&lowest); err != nil {
		return nil, fmt.Errorf("rejection ids: %w", err)
	}
	base := min(lowest.Int64, 0)
	for i := range n {
		out = append(out, base-1-int64(i))
	}
	return out, nil
}

// Ref is the ledger reference of an event's credit.
func Ref(partner, eventID string) string { return "evt:" + partner + ":" + eventID }

// one decides and records one event inside its own savepoint. again
// reports a uniqueness race or a deadlock lost to another writer (retry
// after commit);
// err is returned only when the transaction itself is unusable.
func (w *writer) one(partner string, ev *Event) (o Outcome, again bool, err error) {
	if err := w.internEvent(ev); err != nil {
		return o, false, err
	}
	if err := w.exec(`SAVEPOINT ev`); err != nil {
		return o, false, fmt.Errorf("savepoint: %w", err)
	}
	head := w.head
	var p pending
	o, err = w.decide(partner, ev, &head, &p, false)
	if err != nil {
		if rerr := w.exec(`ROLLBACK TO SAVEPOINT ev`); rerr != nil {
			return o, false, fmt.Errorf("rollback to savepoint: %w (after %v)", rerr, err)
		}
		if store.IsUniqueViolation(err) {
			return Outcome{EventID: ev.ID, Status: StatusError, Code: oc.EConflict, Message: "a concurrent request wrote the same event; retry"}, true, nil
		}
		if store.IsRetryable(err) {
			// A deadlock with another writer (one of another shard count
			// on the same database, on PostgreSQL): PostgreSQL aborted this
			// statement only; the event is tried again after this
			// transaction commits and releases its locks.
			return Outcome{EventID: ev.ID, Status: StatusError, Code: oc.EConflict, Message: "a concurrent request held the same rows; retry"}, true, nil
		}
		w.s.log.Error("event failed", "partner", partner, "event_id", ev.ID, "err", err)
		return Outcome{EventID: ev.ID, Status: StatusError, Code: oc.EInternal, Message: "Internal error; nothing was recorded, retry."}, false, nil
	}
	if err := w.exec(`RELEASE SAVEPOINT ev`); err != nil {
		return o, false, fmt.Errorf("release savepoint: %w", err)
	}
	w.head = head
	return w.keep(partner, ev, o, &p), false, nil
}

// keep records in the batch's memory what a kept event changed: its
// buffered rows, its remembered outcome (for duplicates later in the
// batch) and the cap usage it took.
func (w *writer) keep(partner string, ev *Event, o Outcome, p *pending) Outcome {
	if p.calc != nil {
		w.calcRows = append(w.calcRows, *p.calc)
	}
	if p.act != nil {
		w.acts[*p.act] = true
	}
	if p.usage != nil {
		w.usageAdd[*p.usage] += p.mg
		w.usageN[*p.usage]++
	}
	if o.Status == StatusCredited || (o.Status == StatusRejected && remembered[o.Code]) {
		k := eventKey{partner, ev.ID}
		w.known[k] = Outcome{EventID: ev.ID, Status: StatusDuplicate, Original: o.Status, Code: o.Code, Message: clip(o.Message, 300), MG: o.MG, Points: o.Points, CalcID: o.CalcID}
		w.hashes[k] = ev.memoHash()
	}
	if o.Status == StatusCredited {
		m, _ := w.eng.Lookup(ev.Behavior, ev.OccurredAt)
		day, _, _ := dayKeys(ev.OccurredAt, w.eng.Location())
		if u := w.used[usageKey{o.acct, ev.Behavior, day / 10000}]; u != nil && m != nil {
			u.total += o.MG
			u.days[day] += o.MG
		}
	}
	o.acct = 0
	return o
}

// usageKey names a person's cap usage of a behavior in a year.
type usageKey struct {
	acct     int64
	behavior string
	year     int
}

// usageYear is what a usageKey's person was credited: in the whole year
// (total) and on the days of it looked up or credited in this transaction
// (a day absent from days was not read yet).
type usageYear struct {
	total int64
	days  map[int]int64
}

// decide runs the event through the checks and, when credited, records
// it. A returned error rolls the event back. With deferred set (the set-based
// fast path) it writes nothing: the rows to write are left in p and the
// credited outcome's points are filled in after the batch's ledger credit.
func (w *writer) decide(partner string, ev *Event, head *audit.Head, p *pending, deferred bool) (Outcome, error) {
	ctx, tx := w.ctx, w.tx
	hash := ev.memoHash()
	if o, found := w.known[eventKey{partner, ev.ID}]; found {
		if w.hashes[eventKey{partner, ev.ID}] != hash {
			return Outcome{EventID: ev.ID, Status: StatusConflict, Code: oc.EEventConflict,
				Message: "event_id was already used for a different event by this partner"}, nil
		}
		return o, nil
	}
	reject := func(code, msg string) (Outcome, error) {
		o := Outcome{EventID: ev.ID, Status: StatusRejected, Code: code, Message: msg}
		if !remembered[code] {
			return o, nil
		}
		if deferred {
			p.reject = &o
			return o, nil
		}
		neg, err := w.negIDs(1)
		if err != nil {
			return o, err
		}
		err = w.exec(`INSERT INTO intake_events (id, partner, event_id, body_hash, status, code, message, behavior_id, occurred_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			neg[0], partner, ev.ID, hash, StatusRejected, code, clip(msg, 300), w.id(ev.Behavior), store.Micros(ev.OccurredAt), store.Micros(tx.Now))
		return o, err
	}
	switch {
	case ev.OccurredAt.After(tx.Now.Add(w.s.cfg.MaxSkew)):
		return reject(oc.EFuture, fmt.Sprintf("occurred_at %s is more than %s ahead of the server clock", ev.OccurredAt.Format(time.RFC3339), w.s.cfg.MaxSkew))
	case ev.OccurredAt.Before(tx.Now.Add(-w.s.cfg.MaxAge)):
		return reject(oc.ETooOld, fmt.Sprintf("occurred_at %s is older than %s", ev.OccurredAt.Format(time.RFC3339), w.s.cfg.MaxAge))
	}
	acct, sub, err := w.resolve(ev.Person, partner)
	if isCode(err, oc.ENoConsent, oc.EPartnerNotLinked, oc.EAccountErased) {
		code := oc.ErrorCode(err)
		if code == oc.EAccountErased {
			code = oc.ENoConsent
		}
		return reject(code, oc.ErrorMessage(err))
	}
	if err != nil {
		return Outcome{}, err
	}
	m, ok := w.eng.Lookup(ev.Behavior, ev.OccurredAt)
	day, _, _ := dayKeys(ev.OccurredAt, w.eng.Location())
	var used methodology.Usage
	if ok {
		if used, err = w.usage(acct, ev.Behavior, day); err != nil {
			return Outcome{}, err
		}
	}
	mev := methodology.Event{ID: ev.ID, Partner: partner, Person: ev.Person, Behavior: ev.Behavior,
		OccurredAt: ev.OccurredAt, Params: ev.Params, Evidence: ev.Evidence}
	var res methodology.Result
	if ev.prep != nil && ev.prep.Engine() == w.eng {
		res, err = ev.prep.Apply(used)
	} else {
		res, err = w.eng.Evaluate(mev, used)
	}
	if isCode(err, oc.EUnknownBehavior) {
		return reject(oc.EUnknownBehavior, oc.ErrorMessage(err))
	}
	if err != nil {
		return Outcome{}, err
	}
	if res.Refusal != "" {
		return reject(res.Refusal, res.Detail)
	}
	actKey, hasAct := m.ActKey(mev)
	if hasAct {
		excl := append(w.eng.ExcludedWith(ev.Behavior), ev.Behavior)
		other := ""
		for _, b := range excl {
			if w.acts[actRow{acct, actKey, b}] {
				other = b
			}
		}
		if other == "" {
			if other, err = w.excludedBy(acct, actKey, excl); err != nil {
				return Outcome{}, err
			}
		}
		if other != "" {
			return reject(oc.EExcludedBy, fmt.Sprintf("this act (%s) was already credited as %s", clip(actKey, 64), other))
		}
	}

	// Credited: calc record, ledger, usage, act, event row, outbox.
	var calcID string
	var next audit.Head
	var row audit.Row
	if deferred {
		// Chained and encoded by seal, beside the batch's statements.
		calcID, next, row = audit.Reserve(*head, acct, res.Calc)
	} else if calcID, next, row, err = audit.Next(*head, acct, res.Calc); err != nil {
		return Outcome{}, err
	}
	*head = next
	p.calc = &row
	scenario := m.Scenario()
	p.usage = &usageRow{acct: acct, behavior: ev.Behavior, partner: partner, scenario: scenario, day: day}
	p.mg = res.MG
	var act any
	if hasAct {
		act = actKey
		p.act = &actRow{acct, actKey, ev.Behavior}
	}
	if deferred {
		p.credit = &creditRow{acct: acct, sub: sub, scenario: scenario, act: act, calcID: calcID}
		return Outcome{EventID: ev.ID, Status: StatusCredited, MG: res.MG, CalcID: calcID, acct: acct}, nil
	}
	ref := Ref(partner, ev.ID)
	cr, err := ledger.CreditTx(ctx, tx, ledger.Credit{Parent: acct, Sub: sub, MG: res.MG, Ref: ref, CalcID: calcID})
	if err != nil {
		return Outcome{}, err
	}
	// sub_id and calc_id are the ledger transaction's (see the package doc).
	if err := w.exec(`INSERT INTO intake_events (id, partner, event_id, body_hash, status, account_id, behavior_id, scenario_id, occurred_at, mg, points, act_key, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		cr.TxID, partner, ev.ID, hash, StatusCredited, acct, w.id(ev.Behavior), w.id(scenario), store.Micros(ev.OccurredAt), res.MG, cr.Points, act, store.Micros(tx.Now)); err != nil {
		return Outcome{}, fmt.Errorf("record event: %w", err)
	}
	err = webhook.EnqueueTx(ctx, tx, webhook.TopicCreditCreated, partner, acct, webhook.CreditBody{
		Ref: ref, EventID: ev.ID, Partner: partner, Account: acct, Sub: sub, Behavior: ev.Behavior, Scenario: scenario,
		MG: res.MG, Points: cr.Points, CalcID: calcID, OccurredAt: ev.OccurredAt, CreditedAt: tx.Now})
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{EventID: ev.ID, Status: StatusCredited, MG: res.MG, Points: cr.Points, CalcID: calcID, acct: acct}, nil
}

// resolve is account.ResolveTx, once per person and partner per
// transaction.
func (w *writer) resolve(person, partner string) (int64, int64, error) {
	k := account.Key{Person: person, Partner: partner}
	if r, ok := w.resolved[k]; ok {
		return r.acct, r.sub, r.err
	}
	acct, sub, err := account.ResolveTx(w.ctx, w.tx, person, partner)
	if err != nil && !isCode(err, oc.ENoConsent, oc.EPartnerNotLinked, oc.EAccountErased) {
		return 0, 0, err
	}
	w.resolved[k] = resolution{acct, sub, err}
	return acct, sub, err
}

// usage returns what the person was credited for behavior on day and in
// its year. On PostgreSQL it first takes a transaction lock on (account,
// behavior) so writers in other processes cannot both pass a cap.
func (w *writer) usage(acct int64, behavior string, day int) (methodology.Usage, error) {
	k := usageKey{acct, behavior, day / 10000}
	y := w.used[k]
	if y != nil {
		if mg, ok := y.days[day]; ok {
			return methodology.Usage{DayMG: mg, YearMG: y.total}, nil
		}
	}
	ctx, tx := w.ctx, w.tx
	if lk := usageLockKey(acct, behavior); tx.Dialect == store.Postgres && !w.locked[lk] {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lk); err != nil {
			return methodology.Usage{}, fmt.Errorf("usage lock: %w", err)
		}
		w.locked[lk] = true
	}
	// The year's total (its row, see yearRow) and the day's.
	w.s.usageMiss.Add(1)
	var total, dayMG int64
	err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(CASE WHEN day = $2 THEN mg ELSE 0 END), 0), COALESCE(SUM(CASE WHEN day = $3 THEN mg ELSE 0 END), 0) FROM intake_usage
		WHERE account_id = $1 AND day IN ($2, $3) AND behavior_id = $4`, acct, yearRow(day), day, w.id(behavior)).Scan(&total, &dayMG)
	if err != nil {
		return methodology.Usage{}, fmt.Errorf("usage: %w", err)
	}
	if y == nil {
		// Nothing of this year was credited in this transaction yet, so
		// the stored total is the whole of it.
		y = &usageYear{total: total, days: map[int]int64{}}
		w.used[k] = y
	}
	// This transaction credited nothing on day yet: keep adds to a day
	// only after decide read it here.
	y.days[day] = dayMG
	return methodology.Usage{DayMG: dayMG, YearMG: y.total}, nil
}

// excludedBy returns a behavior among behaviors already credited for the
// act, or "".
func (w *writer) excludedBy(acct int64, actKey string, behaviors []string) (string, error) {
	if stored, ok := w.storedActs[actPair{acct, actKey}]; ok {
		for _, b := range behaviors {
			if stored[b] {
				return b, nil
			}
		}
		return "", nil
	}
	args := []any{acct, actKey}
	for _, b := range behaviors {
		args = append(args, b)
	}
	var b string
	err := w.queryRow(excludedByQuery(w.tx.Dialect, len(behaviors)), args...).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("exclusivity: %w", err)
	}
	return b, nil
}

// excludedByQuery reads whether the act ($2) of an account ($1) was
// credited, and not reversed, under one of n behaviors ($3…), through the
// partial index intake_events_act.
func excludedByQuery(d store.Dialect, n int) string {
	ph := make([]string, n)
	for i := range ph {
		ph[i] = fmt.Sprintf("$%d", i+3)
	}
	digest := ""
	if d == store.Postgres {
		digest = pgActKey + ` = ` + actDigest("$1::bigint", "$2") + ` AND `
	}
	return `SELECT n.name FROM intake_events e JOIN intake_names n ON n.id = e.behavior_id
		WHERE ` + digest + `e.act_key = $2 AND e.account_id = $1 AND e.reversed_at IS NULL AND n.name IN (` + strings.Join(ph, ", ") + `) LIMIT 1`
}

// dayKeys returns t's local day as YYYYMMDD and the first and last day
// keys of its year.
func dayKeys(t time.Time, loc *time.Location) (day, from, to int) {
	l := t.In(loc)
	y := l.Year()
	return y*10000 + int(l.Month())*100 + l.Day(), y*10000 + 101, y*10000 + 1231
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
