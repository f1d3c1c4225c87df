package ledger

import (
	"context"
	"fmt"
	"sort"

	"github.com/opencarbon/opencarbon/store"
)

// CreditBatchTx credits cs in tx with exactly the results of calling
// CreditTx for each in order (a ref seen before, or earlier in cs, returns
// the first result). On PostgreSQL it is set-based: a fixed number of
// statements for the whole batch (find known refs, lock the balance rows in
// (parent, sub) order, then one insert per table) instead of two round trips
// per credit. On SQLite, where a statement costs no round trip, it calls
// CreditTx in order. Every credit is validated before anything is written;
// after any other error the caller must roll tx back.
func CreditBatchTx(ctx context.Context, tx *store.Tx, cs []Credit) ([]CreditResult, error) {
	exps := make([]int64, len(cs))
	for i, c := range cs {
		if err := validCredit(c); err != nil {
			return nil, fmt.Errorf("credit %d (%s): %w", i, c.Ref, err)
		}
		exp, err := lotExpiry(tx, c.ExpiresAt)
		if err != nil {
			return nil, fmt.Errorf("credit %d (%s): %w", i, c.Ref, err)
		}
		exps[i] = exp
	}
	out := make([]CreditResult, len(cs))
	if tx.Dialect != store.Postgres || len(cs) == 0 {
		for i, c := range cs {
			r, err := CreditTx(ctx, tx, c)
			if err != nil {
				return nil, fmt.Errorf("credit %d (%s): %w", i, c.Ref, err)
			}
			out[i] = r
		}
		return out, nil
	}
	return out, pgCreditBatch(ctx, tx, cs, exps, out)
}

func validCredit(c Credit) error {
	if err := checkAccounts(c.Parent, c.Sub, true); err != nil {
		return err
	}
	if err := checkRef(c.Ref); err != nil {
		return err
	}
	if c.MG <= 0 {
		return errInvalidMG(c.MG)
	}
	return nil
}

type acctKey struct{ parent, sub int64 }

type lotKey struct {
	parent, sub, exp int64
}

func pgCreditBatch(ctx context.Context, tx *store.Tx, cs []Credit, exps []int64, out []CreditResult) error {
	// Known refs keep their first result.
	refs := make([]string, len(cs))
	for i, c := range cs {
		refs[i] = c.Ref
	}
	known := map[string]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT ref FROM ledger_tx WHERE ref = ANY($1::text[])`, refs)
	if err != nil {
		return fmt.Errorf("ledger batch refs: %w", err)
	}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return fmt.Errorf("ledger batch refs: %w", err)
		}
		known[r] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ledger batch refs: %w", err)
	}
	first := map[string]int{} // ref → index of its first new credit in cs
	var fresh []int
	for i, c := range cs {
		if known[c.Ref] {
			continue
		}
		if _, dup := first[c.Ref]; dup {
			continue
		}
		first[c.Ref] = i
		fresh = append(fresh, i)
	}

	// Make sure every balance row the batch touches exists, then lock them
	// all; both in (parent, sub) order, so concurrent batches and single
	// writes never wait on each other in a cycle. A row another
	// transaction is creating is waited for, not overwritten.
	state := map[acctKey]*bal{}
	if len(fresh) > 0 {
		keys := map[acctKey]bool{}
		for _, i := range fresh {
			keys[acctKey{cs[i].Parent, 0}], keys[acctKey{cs[i].Parent, cs[i].Sub}] = true, true
		}
		sorted := make([]acctKey, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Slice(sorted, func(i, j int) bool {
			if sorted[i].parent != sorted[j].parent {
				return sorted[i].parent < sorted[j].parent
			}
			return sorted[i].sub < sorted[j].sub
		})
		ps, ss := make([]int64, len(sorted)), make([]int64, len(sorted))
		for j, k := range sorted {
			ps[j], ss[j] = k.parent, k.sub
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_balances (parent, sub, mg, points, debt)
			SELECT p, s, 0, 0, 0 FROM unnest($1::bigint[], $2::bigint[]) AS u(p, s) ORDER BY p, s
			ON CONFLICT (parent, sub) DO NOTHING`, ps, ss); err != nil {
			return fmt.Errorf("ledger batch rows: %w", err)
		}
		rows, err = tx.QueryContext(ctx, `SELECT b.parent, b.sub, b.mg, b.points, b.debt FROM ledger_balances b
			JOIN unnest($1::bigint[], $2::bigint[]) AS u(p, s) ON b.parent = u.p AND b.sub = u.s
			ORDER BY b.parent, b.sub FOR UPDATE OF b`, ps, ss)
		if err != nil {
			return fmt.Errorf("ledger batch lock: %w", err)
		}
		for rows.Next() {
			var k acctKey
			b := &bal{}
			if err := rows.Scan(&k.parent, &k.sub, &b.mg, &b.points, &b.debt); err != nil {
				rows.Close()
				return fmt.Errorf("ledger batch lock: %w", err)
			}
			state[k] = b
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("ledger batch lock: %w", err)
		}
		if len(state) != len(sorted) {
			return fmt.Errorf("ledger batch lock: %d of %d balance rows found", len(state), len(sorted))
		}
	}
	get := func(k acctKey) *bal {
		if state[k] == nil {
			state[k] = &bal{}
		}
		return state[k]
	}

	// The arithmetic of inflow, credit by credit.
	now := store.Micros(tx.Now)
	var (
		tRef, tCalc          []string
		tParent, tSub, tDebt []int64
		pRef                 []string
		pN                   []int32
		pDst, pAmount        []int64
		pAsset               []string
		lots                 = map[lotKey]int64{}
		lotOrder             []lotKey
		results              = map[string]CreditResult{}
	)
	for _, i := range fresh {
		c := cs[i]
		sb, pb := get(acctKey{c.Parent, c.Sub}), get(acctKey{c.Parent, 0})
		delta := pointsFor(sb.mg, sb.mg+c.MG)
		newPoints, newDebt := split(sb.points - sb.debt + delta)
		repaid, lot := sb.debt-newDebt, newPoints-sb.points
		sb.mg, sb.points, sb.debt = sb.mg+c.MG, newPoints, newDebt
		pb.mg, pb.points, pb.debt = pb.mg+c.MG, pb.points+lot, pb.debt-repaid
		if lk := (lotKey{c.Parent, c.Sub, exps[i]}); lot > 0 {
			if _, ok := lots[lk]; !ok {
				lotOrder = append(lotOrder, lk)
			}
			lots[lk] += lot
		}
		results[c.Ref] = CreditResult{Points: delta, DebtRepaid: repaid}
		tRef, tCalc = append(tRef, c.Ref), append(tCalc, c.CalcID)
		tParent, tSub, tDebt = append(tParent, c.Parent), append(tSub, c.Sub), append(tDebt, repaid)
		pRef, pN, pDst, pAsset, pAmount = append(pRef, c.Ref), append(pN, 0), append(pDst, c.Sub), append(pAsset, AssetMG), append(pAmount, c.MG)
		if delta > 0 {
			pRef, pN, pDst, pAsset, pAmount = append(pRef, c.Ref), append(pN, 1), append(pDst, c.Sub), append(pAsset, AssetPoints), append(pAmount, delta)
		}
	}
	if len(fresh) > 0 {
		ids := map[string]int64{}
		rows, err = tx.QueryContext(ctx, `INSERT INTO ledger_tx (ref, kind, parent, sub, calc_id, created_at, debt)
			SELECT r, 'credit', p, s, c, $6::bigint, d FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[]) AS u(r, p, s, c, d)
			RETURNING id, ref`, tRef, tParent, tSub, tCalc, tDebt, now)
		if err != nil {
			return fmt.Errorf("ledger batch: %w", err)
		}
		for rows.Next() {
			var id int64
			var ref string
			if err := rows.Scan(&id, &ref); err != nil {
				rows.Close()
				return fmt.Errorf("ledger batch: %w", err)
			}
			ids[ref] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("ledger batch: %w", err)
		}
		pTx := make([]int64, len(pRef))
		for j, ref := range pRef {
			pTx[j] = ids[ref]
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_postings (tx_id, n, src, dst, asset, amount)
			SELECT t, n, $6::bigint, d, a, m FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[], $5::bigint[]) AS u(t, n, d, a, m)`,
			pTx, pN, pDst, pAsset, pAmount, AccountIssuance); err != nil {
			return fmt.Errorf("ledger batch postings: %w", err)
		}
		for ref, r := range results {
			r.TxID = ids[ref]
			results[ref] = r
		}
		if err := pgWriteBalances(ctx, tx, state); err != nil {
			return err
		}
		if err := pgWriteLots(ctx, tx, lots, lotOrder, now); err != nil {
			return err
		}
	}
	for i, c := range cs {
		if r, ok := results[c.Ref]; ok {
			out[i] = r
			continue
		}
		r, err := creditResult(ctx, tx, c.Ref)
		if err != nil {
			return fmt.Errorf("credit %d (%s): %w", i, c.Ref, err)
		}
		out[i] = r
	}
	return nil
}

// pgWriteBalances writes the batch's final balance rows, all locked.
func pgWriteBalances(ctx context.Context, tx *store.Tx, state map[acctKey]*bal) error {
	var up [5][]int64
	for k, b := range state {
		for j, v := range []int64{k.parent, k.sub, b.mg, b.points, b.debt} {
			up[j] = append(up[j], v)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE ledger_balances b SET mg = u.mg, points = u.points, debt = u.debt
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS u(parent, sub, mg, points, debt)
		WHERE b.parent = u.parent AND b.sub = u.sub`, up[0], up[1], up[2], up[3], up[4]); err != nil {
		return fmt.Errorf("ledger batch balances: %w", err)
	}
	return nil
}

// pgWriteLots adds the batch's points to their lots. New lots are created
// in the order the batch first credited them, as one-by-one credits would:
// lots credited at the same time are spent in id order.
func pgWriteLots(ctx context.Context, tx *store.Tx, lots map[lotKey]int64, order []lotKey, now int64) error {
	if len(lots) == 0 {
		return nil
	}
	var parent, sub, exp, n []int64
	for _, k := range order {
		parent, sub, exp, n = append(parent, k.parent), append(sub, k.sub), append(exp, k.exp), append(n, lots[k])
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO ledger_lots (parent, sub, credited_at, expires_at, remaining)
		SELECT p, s, $5::bigint, e, n FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(p, s, e, n)
		ON CONFLICT (sub, expires_at) DO UPDATE SET remaining = ledger_lots.remaining + excluded.remaining`,
		parent, sub, exp, n, now)
	if err != nil {
		return fmt.Errorf("ledger batch lots: %w", err)
	}
	return nil
}
