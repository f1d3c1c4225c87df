package intake

import (
	"database/sql"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/store"
)

// usageLockKey is the PostgreSQL transaction lock that serialises cap
// decisions for one person and behavior across processes.
func usageLockKey(acct int64, behavior string) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "intake.usage.%d.%s", acct, behavior)
	return int64(h.Sum64() >> 1)
}

// prefetchUsage resolves the batch's people and loads the cap usage of
// every (person, behavior, year) the batch touches in a few queries,
// taking the PostgreSQL usage locks in one statement in key order (so two
// processes never wait on each other in opposite orders). It only warms
// the writer's caches: decide reads them, and falls back to one query per
// key for anything missed.
func (w *writer) prefetchUsage(items []item) error {
	// The years and days to read, each starting at zero: the reads below
	// add what is stored, the years' rows (see yearRow) and the batch's
	// (person, day) rows. Before, every day row of the year came back, a
	// person's history for each batch.
	load := map[usageKey]*usageYear{}
	type acctDay struct {
		acct int64
		day  int
	}
	days := map[acctDay]bool{}
	pairs := map[actPair]bool{}
	accts := map[int64]bool{}
	minYear, maxYear := 9999, 0
	if err := w.resolveMany(items); err != nil {
		return err
	}
	for _, it := range items {
		ev := it.ev
		if _, known := w.known[eventKey{it.partner, ev.ID}]; known {
			continue
		}
		acct, _, err := w.resolve(ev.Person, it.partner)
		if isCode(err, oc.ENoConsent, oc.EPartnerNotLinked, oc.EAccountErased) {
			continue
		}
		if err != nil {
			return err
		}
		m, ok := w.eng.Lookup(ev.Behavior, ev.OccurredAt)
		if !ok {
			continue
		}
		if key, has := m.ActKey(methodology.Event{Params: ev.Params, Evidence: ev.Evidence}); has {
			pairs[actPair{acct, key}] = true
		}
		day, _, _ := dayKeys(ev.OccurredAt, w.eng.Location())
		k := usageKey{acct, ev.Behavior, day / 10000}
		if w.used[k] != nil {
			continue
		}
		y := load[k]
		if y == nil {
			y = &usageYear{days: map[int]int64{}}
			load[k] = y
		}
		y.days[day] = 0
		days[acctDay{acct, day}] = true
		accts[acct] = true
		minYear, maxYear = min(minYear, k.year), max(maxYear, k.year)
	}
	if w.tx.Dialect == store.Postgres {
		// Two statements in all: the cap locks with the acts, then the
		// years' and days' usage, which must be read after the locks (a
		// statement reads what was committed when it started).
		if err := w.locksAndActsPG(load, pairs); err != nil {
			return err
		}
	} else if err := w.prefetchActs(pairs); err != nil {
		return err
	}
	if len(load) == 0 {
		return nil
	}
	// scan adds rows of (account, behavior id, day, mg) to the years or
	// days being loaded: a year's row has day -year < 0 (see yearRow), a
	// day's row its positive yyyymmdd.
	scan := func(rows *sql.Rows, err error) error {
		if err != nil {
			return fmt.Errorf("usage: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var acct, bid, mg int64
			var at int
			if err := rows.Scan(&acct, &bid, &at, &mg); err != nil {
				return fmt.Errorf("usage: %w", err)
			}
			behavior, ok := w.nameOf[bid]
			if !ok {
				continue // a behavior not in this batch
			}
			byDay, year := at > 0, -at
			if byDay {
				year = at / 10000
			}
			y := load[usageKey{acct, behavior, year}]
			switch {
			case y == nil:
			case !byDay:
				y.total += mg
			default:
				if _, want := y.days[at]; want {
					y.days[at] += mg
				}
			}
		}
		return rows.Err()
	}
	ids := make([]int64, 0, len(accts))
	for a := range accts {
		ids = append(ids, a)
	}
	list := make([]acctDay, 0, len(days))
	for ad := range days {
		list = append(list, ad)
	}
	from, to := -maxYear, -minYear // the years' rows
	if w.tx.Dialect == store.Postgres {
		// One index range or probe per key (see writer.prefetch).
		as, ds := make([]int64, len(list)), make([]int32, len(list))
		for i, ad := range list {
			as[i], ds[i] = ad.acct, int32(ad.day)
		}
		rows, err := w.tx.QueryContext(w.ctx, `SELECT x.account_id, x.behavior_id, x.day, x.mg FROM unnest($3::bigint[]) AS u(a)
			CROSS JOIN LATERAL (SELECT * FROM intake_usage WHERE account_id = u.a AND day BETWEEN $1 AND $2 OFFSET 0) x
			UNION ALL
			SELECT x.account_id, x.behavior_id, x.day, x.mg FROM unnest($4::bigint[], $5::int[]) AS u(a, d)
			CROSS JOIN LATERAL (SELECT * FROM intake_usage WHERE account_id = u.a AND day = u.d OFFSET 0) x`, from, to, ids, as, ds)
		if err := scan(rows, err); err != nil {
			return err
		}
		list = nil
		ids = nil
	}
	for len(ids) > 0 {
		take, size := store.ReadChunk(len(ids))
		args := make([]any, 2, 2+size)
		args[0], args[1] = from, to
		for i := range size {
			args = append(args, ids[min(i, take-1)])
		}
		ids = ids[take:]
		rows, err := w.tx.QueryContext(w.ctx, `SELECT account_id, behavior_id, day, mg FROM intake_usage
			WHERE day BETWEEN ? AND ? AND account_id IN (`+store.Params(store.SQLite, size)+`)`, args...)
		if err := scan(rows, err); err != nil {
			return err
		}
	}
	for len(list) > 0 {
		take, size := store.ReadChunk(len(list))
		q := store.ValuesSQL(store.SQLite, `SELECT account_id, behavior_id, day, mg FROM intake_usage WHERE (account_id, day) IN (VALUES`, size, 2, `)`)
		args := make([]any, 0, 2*size)
		for i := range size {
			ad := list[min(i, take-1)]
			args = append(args, ad.acct, ad.day)
		}
		list = list[take:]
		rows, err := w.tx.QueryContext(w.ctx, q, args...)
		if err := scan(rows, err); err != nil {
			return err
		}
	}
	maps.Copy(w.used, load)
	return nil
}

// resolveMany resolves the people of items that are not yet resolved with
// account.ResolveManyTx (a few queries for the whole batch) into the
// writer's cache, which resolve then answers from.
func (w *writer) resolveMany(items []item) error {
	var keys []account.Key
	seen := map[account.Key]bool{}
	for _, it := range items {
		k := account.Key{Person: it.ev.Person, Partner: it.partner}
		if _, done := w.resolved[k]; done || seen[k] {
			continue
		}
		if _, known := w.known[eventKey{it.partner, it.ev.ID}]; known {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil
	}
	ts, err := account.ResolveManyTx(w.ctx, w.tx, keys)
	if err != nil {
		return err
	}
	for i, k := range keys {
		w.resolved[k] = resolution{ts[i].AccountID, ts[i].SubID, ts[i].Err}
	}
	return nil
}

// prefetchActs loads the behaviors credited, and not reversed, for the
// batch's (account, act) pairs on SQLite, a few hundred pairs per query
// (PostgreSQL: locksAndActsPG).
func (w *writer) prefetchActs(pairs map[actPair]bool) error {
	list := make([]actPair, 0, len(pairs))
	for p := range pairs {
		list = append(list, p)
	}
	w.storedActs = make(map[actPair]map[string]bool, len(list))
	for len(list) > 0 {
		take, size := store.ReadChunk(len(list))
		chunk := list[:take]
		list = list[take:]
		// size pairs, the last one repeated to fill the list.
		q := actsQuerySQLite(size)
		args := make([]any, 0, 2*size)
		for range size - take {
			args = append(args, chunk[take-1].acct, chunk[take-1].key)
		}
		for _, p := range chunk {
			args = append(args, p.acct, p.key)
			w.storedActs[p] = map[string]bool{}
		}
		rows, err := w.tx.QueryContext(w.ctx, q, args...)
		if err != nil {
			return fmt.Errorf("acts: %w", err)
		}
		if err := w.scanActs(rows); err != nil {
			return err
		}
	}
	return nil
}

// locksAndActsPG takes the cap locks of load's (account, behavior) pairs
// (see usageLockKey), in order, and reads the acts of pairs as
// prefetchActs does, in one statement: an Append runs each branch to its
// end, and the acts do not depend on the locks.
func (w *writer) locksAndActsPG(load map[usageKey]*usageYear, pairs map[actPair]bool) error {
	if len(load) == 0 && len(pairs) == 0 {
		return nil
	}
	set := map[int64]bool{}
	for k := range load {
		set[usageLockKey(k.acct, k.behavior)] = true
	}
	keys := slices.Sorted(maps.Keys(set))
	w.storedActs = make(map[actPair]map[string]bool, len(pairs))
	accts, acts := make([]int64, 0, len(pairs)), make([]string, 0, len(pairs))
	for p := range pairs {
		accts, acts = append(accts, p.acct), append(acts, p.key)
		w.storedActs[p] = map[string]bool{}
	}
	rows, err := w.tx.QueryContext(w.ctx, qLocksActsPG, accts, acts, keys)
	if err != nil {
		return fmt.Errorf("usage locks and acts: %w", err)
	}
	if err := w.scanActs(rows); err != nil {
		return err
	}
	for _, k := range keys {
		w.locked[k] = true
	}
	return nil
}

// eventDigest and actDigest spell, over SQL expressions for their parts,
// the keys of the unique indexes intake_events_key and intake_events_act
// on PostgreSQL (intake migration 9): a 16-byte digest of the idempotency
// key and of the act. A query finds rows by matching the digest of the
// columns (unqualified, as in the index) with the digest of its
// arguments, then compares the text, which the digest stands for.
func eventDigest(partner, eventID string) string {
	return `md5(` + partner + ` || ':' || ` + eventID + `)::uuid`
}

func actDigest(account, act string) string {
	return `md5(` + account + `::text || ':' || ` + act + `)::uuid`
}

// pgEventKey and pgActKey are the index expressions themselves.
var (
	pgEventKey = eventDigest("partner", "event_id")
	pgActKey   = actDigest("account_id", "act_key")
)

// qActsPG reads the behaviors credited for the (account, act) pairs of
// two arrays, one probe of intake_events_act each.
var qActsPG = `SELECT e.account_id, e.act_key, n.name FROM unnest($1::bigint[], $2::text[]) AS u(acct, k)
	CROSS JOIN LATERAL (SELECT account_id, act_key, behavior_id FROM intake_events
		WHERE ` + pgActKey + ` = ` + actDigest("u.acct", "u.k") + ` AND act_key = u.k AND account_id = u.acct AND reversed_at IS NULL OFFSET 0) e
	JOIN intake_names n ON n.id = e.behavior_id`

// qLocksActsPG takes the locks of $3 in order, which yields no row, and
// reads the acts of $1 and $2 (qActsPG).
var qLocksActsPG = `SELECT NULL::bigint, NULL::text, NULL::text
	FROM (SELECT count(*) AS n FROM (SELECT pg_advisory_xact_lock(k) FROM (SELECT k FROM unnest($3::bigint[]) AS u(k) ORDER BY k) s) l) c WHERE c.n < 0
	UNION ALL ` + qActsPG

// actsQuerySQLite reads the behaviors credited for n (account, act)
// pairs, a VALUES list of them, from the partial index intake_events_act:
// its condition (act_key IS NOT NULL AND reversed_at IS NULL) is spelled
// out after the list, or SQLite scans intake_events.
func actsQuerySQLite(n int) string {
	return store.ValuesSQL(store.SQLite, `SELECT e.account_id, e.act_key, n.name FROM intake_events e JOIN intake_names n ON n.id = e.behavior_id
	WHERE (e.account_id, e.act_key) IN (VALUES`, n, 2, `) AND e.act_key IS NOT NULL AND e.reversed_at IS NULL`)
}

// scanActs adds rows of (account, act key, behavior) to w.storedActs and
// closes rows.
func (w *writer) scanActs(rows *sql.Rows) error {
	defer rows.Close()
	for rows.Next() {
		var p actPair
		var b string
		if err := rows.Scan(&p.acct, &p.key, &b); err != nil {
			return fmt.Errorf("acts: %w", err)
		}
		if m := w.storedActs[p]; m != nil {
			m[b] = true
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("acts: %w", err)
	}
	return nil
}
