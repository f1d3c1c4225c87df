package ledger

import (
	"context"
	"fmt"
	"sort"

	"github.com/opencarbon/opencarbon/store"
)

// CreditBatchTx credits cs in tx with exactly the results of calling
// CreditTx for each in order (a ref seen before, or earlier in cs, returns
// the first result), but set-based: a fixed number of statements per batch
// (find the known refs, read — on PostgreSQL create and lock, in (parent,
// sub) order — the balance rows, then one multi-row write per table)
// instead of several per credit. Every credit is validated before anything
// is written; after any other error the caller must roll tx back. Errors:
// EInvalid, EConflict (as CreditTx). One difference: a ref that another
// transaction is crediting at the same moment fails the batch with a
// unique violation where CreditTx would wait and return the first result
// (the intake's own event dedup keeps that from happening).
func CreditBatchTx(ctx context.Context, tx *store.Tx, cs []Credit) ([]CreditResult, error) {
	exps := make([]int64, len(cs))
	for i, c := range cs {
		if err := validCredit(c, c.NewRef); err != nil {
			return nil, fmt.Errorf("credit %d (%s): %w", i, c.Ref, err)
		}
		exp, err := lotExpiry(tx, c.ExpiresAt)
		if err != nil {
			return nil, fmt.Errorf("credit %d (%s): %w", i, c.Ref, err)
		}
		exps[i] = exp
	}
	out := make([]CreditResult, len(cs))
	if len(cs) == 0 {
		return out, nil
	}
	var be batchBackend = pgBatch{}
	if tx.Dialect == store.SQLite {
		be = sqliteBatch{}
	}
	refs := make([]string, 0, len(cs))
	for _, c := range cs {
		if !c.NewRef {
			refs = append(refs, c.Ref)
		}
	}
	known := map[string]bool{}
	var err error
	if len(refs) > 0 {
		known, err = be.knownRefs(ctx, tx, refs)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger batch refs: %w", err)
	}
	// fresh are the credits to post; sameAs maps a repeat of a ref earlier
	// in cs to that credit, and done marks the credits whose result is in
	// out (a ref stored before is looked up at the end).
	first := make(map[string]int, len(cs))
	sameAs := map[int]int{}
	fresh := make([]int, 0, len(cs))
	keys := make(map[acctKey]bool, len(cs)/2)
	for i, c := range cs {
		if c.Ref != "" {
			if j, ok := first[c.Ref]; ok {
				sameAs[i] = j
				continue
			}
			first[c.Ref] = i
			if known[c.Ref] {
				continue
			}
		}
		fresh = append(fresh, i)
		keys[acctKey{c.Parent, 0}], keys[acctKey{c.Parent, c.Sub}] = true, true
	}
	done := make([]bool, len(cs))
	if len(fresh) > 0 {
		state, err := be.balances(ctx, tx, sortedAcctKeys(keys))
		if err != nil {
			return nil, fmt.Errorf("ledger batch balances: %w", err)
		}
		p := plan(cs, exps, fresh, state, out)
		var ids []int64
		if pg, ok := be.(pgBatch); ok {
			// Two statements: heads, then balances with lots.
			if ids, err = pg.insertHeads(ctx, tx, p.heads); err != nil {
				return nil, fmt.Errorf("ledger batch: %w", err)
			}
			if err := pg.writeBalancesLots(ctx, tx, state, p.lots, store.Micros(tx.Now)); err != nil {
				return nil, fmt.Errorf("ledger batch balances: %w", err)
			}
		} else {
			be := be.(sqliteBatch)
			if ids, err = be.insertHeads(ctx, tx, p.heads); err != nil {
				return nil, fmt.Errorf("ledger batch: %w", err)
			}
			if err := be.writeBalances(ctx, tx, state); err != nil {
				return nil, fmt.Errorf("ledger batch balances: %w", err)
			}
			if err := be.addLots(ctx, tx, p.lots, store.Micros(tx.Now)); err != nil {
				return nil, fmt.Errorf("ledger batch lots: %w", err)
			}
		}
		for j, h := range p.heads {
			out[h.credit].TxID = ids[j]
			done[h.credit] = true
		}
	}
	for i, c := range cs {
		if done[i] {
			continue
		}
		if j, ok := sameAs[i]; ok && done[j] {
			out[i] = out[j]
			continue
		}
		r, err := creditResult(ctx, tx, c.Ref)
		if err != nil {
			return nil, fmt.Errorf("credit %d (%s): %w", i, c.Ref, err)
		}
		out[i] = r
	}
	return out, nil
}

// batchBackend is the dialect's set-based SQL.
type batchBackend interface {
	knownRefs(ctx context.Context, tx *store.Tx, refs []string) (map[string]bool, error)
	// balances returns the rows of keys (sorted), zero for missing ones;
	// on PostgreSQL it creates the missing ones and locks them all.
	balances(ctx context.Context, tx *store.Tx, keys []acctKey) (map[acctKey]*bal, error)
}

// The writes are the dialect's own: pgBatch.insertHeads and
// writeBalancesLots (two statements); sqliteBatch insertHeads (returning
// the heads' ids in order), writeBalances and addLots. A batch credit's
// postings are its head's mg and points (ledger migration 5), not rows.

// validCredit checks c; noRef accepts an empty Ref (CreditBatchTx with
// NewRef).
func validCredit(c Credit, noRef bool) error {
	if err := checkAccounts(c.Parent, c.Sub, true); err != nil {
		return err
	}
	if c.Ref != "" || !noRef {
		if err := checkRef(c.Ref); err != nil {
			return err
		}
	}
	if c.MG <= 0 {
		return errInvalidMG(c.MG)
	}
	return nil
}

type acctKey struct{ parent, sub int64 }

func sortedAcctKeys(m map[acctKey]bool) []acctKey {
	out := make([]acctKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].parent != out[j].parent {
			return out[i].parent < out[j].parent
		}
		return out[i].sub < out[j].sub
	})
	return out
}

// batchHead is one credit's transaction head, which holds its postings:
// mg, and points (no posting when 0), from AccountIssuance to sub.
type batchHead struct {
	credit                        int // index in the batch
	ref, calcID                   string
	parent, sub, debt, mg, points int64
}

type batchLot struct{ parent, sub, exp, points int64 }

type batchPlan struct {
	heads []batchHead
	lots  []batchLot // in the order the batch first credited them
}

// plan does the arithmetic of inflow credit by credit on state, which it
// updates to the final balances, and fills the fresh credits' results
// (without TxID).
func plan(cs []Credit, exps []int64, fresh []int, state map[acctKey]*bal, results []CreditResult) batchPlan {
	get := func(k acctKey) *bal {
		if state[k] == nil {
			state[k] = &bal{}
		}
		return state[k]
	}
	var p batchPlan
	type lk struct{ parent, sub, exp int64 }
	lotAt := map[lk]int{}
	for _, i := range fresh {
		c := cs[i]
		sb, pb := get(acctKey{c.Parent, c.Sub}), get(acctKey{c.Parent, 0})
		delta := pointsFor(sb.mg, sb.mg+c.MG)
		newPoints, newDebt := split(sb.points - sb.debt + delta)
		repaid, lot := sb.debt-newDebt, newPoints-sb.points
		sb.mg, sb.points, sb.debt = sb.mg+c.MG, newPoints, newDebt
		pb.mg, pb.points, pb.debt = pb.mg+c.MG, pb.points+lot, pb.debt-repaid
		if k := (lk{c.Parent, c.Sub, exps[i]}); lot > 0 {
			if j, ok := lotAt[k]; ok {
				p.lots[j].points += lot
			} else {
				lotAt[k] = len(p.lots)
				p.lots = append(p.lots, batchLot{c.Parent, c.Sub, exps[i], lot})
			}
		}
		results[i] = CreditResult{Points: delta, DebtRepaid: repaid}
		p.heads = append(p.heads, batchHead{credit: i, ref: c.Ref, calcID: c.CalcID, parent: c.Parent, sub: c.Sub, debt: repaid, mg: c.MG, points: delta})
	}
	return p
}

// pgBatch writes with unnest over array parameters: one statement per step.
type pgBatch struct{}

func (pgBatch) knownRefs(ctx context.Context, tx *store.Tx, refs []string) (map[string]bool, error) {
	known := map[string]bool{}
	// One index probe per ref whatever the statistics say (OFFSET 0 keeps
	// the lookup from being flattened into a join).
	rows, err := tx.QueryContext(ctx, `SELECT t.ref FROM unnest($1::text[]) AS u(r)
		CROSS JOIN LATERAL (SELECT ref FROM ledger_tx WHERE ref = u.r OFFSET 0) t`, refs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		known[r] = true
	}
	return known, rows.Err()
}

// balances creates the missing rows and locks the existing ones in one
// upsert, in (parent, sub) order, so concurrent batches and single writes
// never wait on each other in a cycle; a row another transaction is
// creating or changing is waited for, and read as it committed (the no-op
// DO UPDATE locks and returns the latest version, like FOR UPDATE).
func (pgBatch) balances(ctx context.Context, tx *store.Tx, keys []acctKey) (map[acctKey]*bal, error) {
	ps, ss := make([]int64, len(keys)), make([]int64, len(keys))
	for j, k := range keys {
		ps[j], ss[j] = k.parent, k.sub
	}
	rows, err := tx.QueryContext(ctx, `INSERT INTO ledger_balances AS b (parent, sub, mg, points, debt)
		SELECT p, s, 0, 0, 0 FROM unnest($1::bigint[], $2::bigint[]) AS u(p, s) ORDER BY p, s
		ON CONFLICT (parent, sub) DO UPDATE SET mg = b.mg
		RETURNING b.parent, b.sub, b.mg, b.points, b.debt`, ps, ss)
	if err != nil {
		return nil, err
	}
	state, err := scanBalances(rows)
	if err == nil && len(state) != len(keys) {
		err = fmt.Errorf("%d of %d balance rows found", len(state), len(keys))
	}
	return state, err
}

// refArg is a head's ref as a parameter: NULL for a credit without one.
func refArg(ref string) any {
	if ref == "" {
		return nil
	}
	return ref
}

// insertHeads inserts the heads in one statement and returns their ids in
// order: it takes them from the sequence first, in the heads' order
// (heads without a ref have nothing else to be found by).
func (pgBatch) insertHeads(ctx context.Context, tx *store.Tx, heads []batchHead) ([]int64, error) {
	n := len(heads)
	refs, calcs := make([]string, n), make([]string, n)
	parents, subs, debts, mgs, points := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for j, h := range heads {
		refs[j], calcs[j], parents[j], subs[j], debts[j], mgs[j], points[j] = h.ref, h.calcID, h.parent, h.sub, h.debt, h.mg, h.points
	}
	rows, err := tx.QueryContext(ctx, `WITH hk AS MATERIALIZED (
		SELECT nextval(pg_get_serial_sequence('ledger_tx', 'id')) AS id, u.*
		FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[]) WITH ORDINALITY AS u(r, p, s, c, d, m, pt, k)),
	h AS (INSERT INTO ledger_tx (id, ref, kind, parent, sub, calc_id, created_at, debt, mg, points)
		SELECT id, NULLIF(r, ''), 'credit', p, s, c, $8::bigint, NULLIF(d, 0), m, pt FROM hk ORDER BY k)
	SELECT id, k FROM hk`, refs, parents, subs, calcs, debts, mgs, points, store.Micros(tx.Now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := make([]int64, n)
	got := 0
	for rows.Next() {
		var id, k int64
		if err := rows.Scan(&id, &k); err != nil {
			return nil, err
		}
		if k < 1 || k > int64(n) {
			return nil, fmt.Errorf("head %d of %d returned", k, n)
		}
		ids[k-1] = id
		got++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if got != n {
		return nil, fmt.Errorf("%d of %d heads inserted", got, n)
	}
	return ids, nil
}

// pgBalancesLotsSQL writes a batch's balance rows and adds its lots.
const pgBalancesLotsSQL = `WITH b AS (INSERT INTO ledger_balances AS b (parent, sub, mg, points, debt)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
		ON CONFLICT (parent, sub) DO UPDATE SET mg = excluded.mg, points = excluded.points, debt = excluded.debt)
	INSERT INTO ledger_lots (parent, sub, credited_at, expires_at, remaining)
		SELECT p, s, $10::bigint, e, n FROM unnest($6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[]) WITH ORDINALITY AS u(p, s, e, n, k) ORDER BY k
		ON CONFLICT (sub, expires_at) DO UPDATE SET remaining = ledger_lots.remaining + excluded.remaining`

// writeBalancesLots is writeBalances and addLots in one statement.
func (pgBatch) writeBalancesLots(ctx context.Context, tx *store.Tx, state map[acctKey]*bal, lots []batchLot, now int64) error {
	var cols [5][]int64
	for k, b := range state {
		for j, v := range []int64{k.parent, k.sub, b.mg, b.points, b.debt} {
			cols[j] = append(cols[j], v)
		}
	}
	var parent, sub, exp, n []int64
	for _, l := range lots {
		parent, sub, exp, n = append(parent, l.parent), append(sub, l.sub), append(exp, l.exp), append(n, l.points)
	}
	// New lots are created in the order the batch first credited them
	// (WITH ORDINALITY), as one-by-one credits would: lots credited at the
	// same time are spent in id order. The balance rows exist and are
	// locked (balances); they are written as an upsert, which finds each by
	// its primary key, where an UPDATE … FROM unnest was planned as a hash
	// join over every balance row while the table was small.
	_, err := tx.ExecContext(ctx, pgBalancesLotsSQL, cols[0], cols[1], cols[2], cols[3], cols[4], parent, sub, exp, n, now)
	return err
}

type rowScanner interface {
	Next() bool
	Scan(...any) error
	Close() error
	Err() error
}

func scanBalances(rows rowScanner) (map[acctKey]*bal, error) {
	defer rows.Close()
	state := map[acctKey]*bal{}
	for rows.Next() {
		var k acctKey
		b := &bal{}
		if err := rows.Scan(&k.parent, &k.sub, &b.mg, &b.points, &b.debt); err != nil {
			return nil, err
		}
		state[k] = b
	}
	return state, rows.Err()
}
