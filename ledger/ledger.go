// Package ledger is the double-entry, append-only record of every
// reduction (asset mg) and every point (asset points) of every account:
// credits from the intake, reversals, bonus grants, spends and refunds, and
// point expiry.
//
// Accounts are the int64 ids owned by package account: a parent account and
// one sub-account per linked partner. Postings move an amount of one asset
// between two accounts; sub-accounts have positive ids and the issuer side
// is a handful of synthetic accounts with negative ids (AccountIssuance,
// AccountBonus, AccountRedemption, AccountExpiry) that have no balance row,
// so no shared hot row is updated per event.
//
// A posting is a row of ledger_postings, except the two postings of a
// credit written by CreditBatchTx (the intake's group commit, nearly every
// transaction): its transaction head holds them, as mg and points moved
// from AccountIssuance to its sub-account (no points posting when 0). That
// saves two rows and their index entries per credit; every reader of
// postings (Check, Entries, a reversal) reads both forms.
//
// Balances are a cache: one row per sub-account and one per parent (sub 0)
// that is the exact rollup of its sub-accounts, updated in the same
// transaction as the postings. For a sub-account, mg equals the sum of its
// mg postings and points − debt equals the sum of its points postings: a
// debt is a negative points position (points clawed back by a reversal
// after they were spent) that is kept apart so the spendable balance is
// never negative, and every later inflow of points repays it first.
// Spendable points are also kept in lots (by credit day and expiry) that
// are spent oldest first; the remaining points of a sub-account's lots
// always equal its points balance. Check proves all of it.
//
// Points follow the default scheme of DESIGN.md: 1 point per whole gram of
// cumulative sub-account reduction, remainder carried, so that net points
// issued by credits and reversals are always floor(mg/1000) of the
// sub-account's reduction.
//
// Locking: every write locks the parent's balance row first (PostgreSQL:
// FOR UPDATE or the upsert's row lock), then its sub-account rows. A caller
// that writes for several parents in one transaction (the intake's group
// commit) should do so in ascending parent id order, so concurrent
// transactions never wait on each other in a cycle.
//
// The ledger must never update or delete a posting (corrections are new
// postings), never let a spendable balance go negative, never change mg
// when points expire or are spent, and never know who a person is: it sees
// account ids only.
package ledger

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the ledger's schema. It needs no other component.
var Migrations = store.Component{Name: "ledger", FS: migrations, Dir: "migrations"}

// Synthetic issuer-side accounts. They have no balance row; their balance,
// when wanted, is the (negated) sum of their postings.
const (
	AccountIssuance   int64 = -1 // mg and points of credits; reversals go back here
	AccountBonus      int64 = -2 // points of grants (campaign bonuses)
	AccountRedemption int64 = -3 // points spent on rewards; refunds come back from here
	AccountExpiry     int64 = -4 // points that expired
)

// Assets.
const (
	AssetMG     = "mg"
	AssetPoints = "points"
)

// Transaction kinds.
const (
	KindCredit   = "credit"
	KindReversal = "reversal"
	KindGrant    = "grant"
	KindSpend    = "spend"
	KindRefund   = "refund"
	KindExpiry   = "expiry"
)

// MGPerPoint is the reduction that earns one point in the default scheme.
const MGPerPoint = 1000

// DefaultLotTTL is the lot period used when no Service sets another.
const DefaultLotTTL = 365 * 24 * time.Hour

// lotTTL is the period of lots credited without an explicit expiry; set by
// NewService (one configuration per process).
var lotTTL atomic.Int64

func init() { lotTTL.Store(int64(DefaultLotTTL)) }

// maxRef bounds idempotency keys.
const maxRef = 200

// pointsFor is the default scheme: the points earned by a sub-account whose
// cumulative reduction goes from before to after mg.
func pointsFor(before, after int64) int64 {
	return after/MGPerPoint - before/MGPerPoint
}

// defaultExpiry is the expiry of a lot credited at now without an explicit
// one: now + TTL rounded up to the next UTC midnight, so one sub-account
// holds one lot per credit day.
func defaultExpiry(now time.Time) time.Time {
	t := now.UTC().Add(time.Duration(lotTTL.Load()))
	d := t.Truncate(24 * time.Hour)
	if d.Before(t) {
		d = d.Add(24 * time.Hour)
	}
	return d
}

// lotExpiry validates an explicit expiry or returns the default.
func lotExpiry(tx *store.Tx, at time.Time) (int64, error) {
	if at.IsZero() {
		return store.Micros(defaultExpiry(tx.Now)), nil
	}
	if !at.After(tx.Now) {
		return 0, oc.Errorf(oc.EInvalid, "lot expiry %s is not in the future", at.UTC().Format(time.RFC3339))
	}
	return store.Micros(at), nil
}

func checkRef(ref string) error {
	if ref == "" || len(ref) > maxRef {
		return oc.Errorf(oc.EInvalid, "ledger reference must be 1 to %d bytes", maxRef)
	}
	return nil
}

func checkAccounts(parent, sub int64, subRequired bool) error {
	if parent <= 0 || sub < 0 || (subRequired && sub == 0) {
		return oc.Errorf(oc.EInvalid, "invalid account %d/%d", parent, sub)
	}
	return nil
}

// txRow is the head of one ledger transaction.
type txRow struct {
	id, parent, sub, debt int64
	kind                  string
	orig                  sql.NullInt64
}

// insertTx inserts a ledger transaction head. ok is false (and id 0) when
// ref already exists; the existing transaction is then left untouched.
func insertTx(ctx context.Context, tx *store.Tx, ref, kind string, parent, sub int64, calcID string, orig int64, note string, debt int64) (id int64, ok bool, err error) {
	var origArg, noteArg any
	if orig != 0 {
		origArg = orig
	}
	if note != "" {
		noteArg = note
	}
	const insert = `INSERT INTO ledger_tx (ref, kind, parent, sub, calc_id, created_at, debt, orig, note)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (ref) WHERE ref IS NOT NULL DO NOTHING`
	args := []any{ref, kind, parent, sub, calcID, store.Micros(tx.Now), debt, origArg, noteArg}
	if tx.Dialect == store.SQLite {
		// SQLite: no RETURNING, which buffers its rows and cost more than
		// the insert itself; the rowid is the id.
		res, err := exec(ctx, tx, insert, args...)
		if err != nil {
			return 0, false, fmt.Errorf("ledger %s %s: %w", kind, ref, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return 0, false, err
		}
		id, err = res.LastInsertId()
		return id, err == nil, err
	}
	err = queryRow(ctx, tx, insert+` RETURNING id`, args...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("ledger %s %s: %w", kind, ref, err)
	}
	return id, true, nil
}

const selectTx = `SELECT id, kind, parent, sub, COALESCE(debt, 0), orig FROM ledger_tx WHERE `

// findTx returns the transaction with ref; found is false if there is none.
func findTx(ctx context.Context, q querier, ref string) (txRow, bool, error) {
	return scanTx(q.QueryRowContext(ctx, selectTx+`ref = $1`, ref), ref)
}

// findTxID returns the transaction with id id; found is false if there is
// none.
func findTxID(ctx context.Context, q querier, id int64) (txRow, bool, error) {
	return scanTx(q.QueryRowContext(ctx, selectTx+`id = $1`, id), id)
}

// scanTx reads the row of findTx or findTxID, which looked for key.
func scanTx(row *sql.Row, key any) (r txRow, found bool, err error) {
	err = row.Scan(&r.id, &r.kind, &r.parent, &r.sub, &r.debt, &r.orig)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("ledger find %v: %w", key, err)
	}
	return r, true, nil
}

// findByOrig returns the transaction that reverses or refunds orig.
func findByOrig(ctx context.Context, q querier, orig int64) (r txRow, found bool, err error) {
	err = q.QueryRowContext(ctx, selectTx+`orig = $1`, orig).
		Scan(&r.id, &r.kind, &r.parent, &r.sub, &r.debt, &r.orig)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("ledger find reversal of %d: %w", orig, err)
	}
	return r, true, nil
}

// posting is one movement of an asset.
type posting struct {
	src, dst int64
	asset    string
	amount   int64
}

// insertPostings writes ps (amounts of 0 are skipped) in one statement,
// numbered from 0.
func insertPostings(ctx context.Context, tx *store.Tx, txID int64, ps ...posting) error {
	return insertPostingsFrom(ctx, tx, txID, new(int), ps...)
}

// insertPostingsFrom is insertPostings numbering from *seq, which it
// advances: for transactions that post in several steps.
func insertPostingsFrom(ctx context.Context, tx *store.Tx, txID int64, seq *int, ps ...posting) error {
	args := make([]any, 0, 6*len(ps))
	for _, p := range ps {
		if p.amount == 0 {
			continue
		}
		if p.amount < 0 {
			return fmt.Errorf("ledger: negative posting %d", p.amount)
		}
		args = append(args, txID, *seq, p.src, p.dst, p.asset, p.amount)
		*seq++
	}
	if len(args) == 0 {
		return nil
	}
	if _, err := exec(ctx, tx, postingsSQL(len(args)/6), args...); err != nil {
		return fmt.Errorf("ledger postings: %w", err)
	}
	return nil
}

// postingsSQLs caches the multi-row INSERTs of up to 8 postings.
var postingsSQLs = func() (out [9]string) {
	for n := range out {
		out[n] = buildPostingsSQL(n)
	}
	return out
}()

func postingsSQL(n int) string {
	if n < len(postingsSQLs) {
		return postingsSQLs[n]
	}
	return buildPostingsSQL(n)
}

func buildPostingsSQL(n int) string {
	q := `INSERT INTO ledger_postings (tx_id, n, src, dst, asset, amount) VALUES `
	for i := range n {
		if i > 0 {
			q += ", "
		}
		b := 6 * i
		q += fmt.Sprintf("($%d, $%d, $%d, $%d, $%d, $%d)", b+1, b+2, b+3, b+4, b+5, b+6)
	}
	return q
}

// txAmounts returns the mg and points a transaction moved, seen from the
// account side: positive into sub-accounts, negative out of them. A batch
// credit's postings are its head's mg and points, any other transaction's
// are rows (never both).
func txAmounts(ctx context.Context, q querier, txID int64) (mg, points int64, err error) {
	err = q.QueryRowContext(ctx, `SELECT `+amountsSQL+`
		FROM ledger_tx t LEFT JOIN ledger_postings p ON p.tx_id = t.id WHERE t.id = $1`, txID).Scan(&mg, &points)
	if err != nil {
		return 0, 0, fmt.Errorf("ledger amounts of %d: %w", txID, err)
	}
	return mg, points, nil
}

// amountsSQL sums the mg and points of the transactions t, grouped with
// their postings p, into sub-accounts (txAmounts, entries).
const amountsSQL = `COALESCE(MAX(t.mg), 0) + COALESCE(SUM(CASE WHEN p.asset = 'mg' THEN (CASE WHEN p.dst > 0 THEN p.amount ELSE -p.amount END) ELSE 0 END), 0),
	COALESCE(MAX(t.points), 0) + COALESCE(SUM(CASE WHEN p.asset = 'points' THEN (CASE WHEN p.dst > 0 THEN p.amount ELSE -p.amount END) ELSE 0 END), 0)`

// bal is one balance row.
type bal struct{ mg, points, debt int64 }

// lockParent locks (creating if needed) the parent's balance row, the first
// lock every write takes. On SQLite the single writer makes it a read.
func lockParent(ctx context.Context, tx *store.Tx, parent int64) (bal, error) {
	var b bal
	q := `SELECT mg, points, debt FROM ledger_balances WHERE parent = $1 AND sub = 0`
	if tx.Dialect == store.Postgres {
		q += ` FOR UPDATE`
	}
	err := queryRow(ctx, tx, q, parent).Scan(&b.mg, &b.points, &b.debt)
	if errors.Is(err, sql.ErrNoRows) {
		return bal{}, nil
	}
	if err != nil {
		return b, fmt.Errorf("ledger lock %d: %w", parent, err)
	}
	return b, nil
}

// subBalance reads a sub-account's balance row (zero if none).
func subBalance(ctx context.Context, tx *store.Tx, parent, sub int64) (bal, error) {
	var b bal
	q := `SELECT mg, points, debt FROM ledger_balances WHERE parent = $1 AND sub = $2`
	if tx.Dialect == store.Postgres {
		q += ` FOR UPDATE`
	}
	err := queryRow(ctx, tx, q, parent, sub).Scan(&b.mg, &b.points, &b.debt)
	if errors.Is(err, sql.ErrNoRows) {
		return bal{}, nil
	}
	if err != nil {
		return b, fmt.Errorf("ledger balance %d/%d: %w", parent, sub, err)
	}
	return b, nil
}

// addBalance adds deltas to a balance row, creating it if needed.
func addBalance(ctx context.Context, tx *store.Tx, parent, sub int64, d bal) error {
	if d == (bal{}) {
		return nil
	}
	_, err := exec(ctx, tx, `INSERT INTO ledger_balances (parent, sub, mg, points, debt) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (parent, sub) DO UPDATE SET mg = ledger_balances.mg + excluded.mg,
		points = ledger_balances.points + excluded.points, debt = ledger_balances.debt + excluded.debt`,
		parent, sub, d.mg, d.points, d.debt)
	if err != nil {
		return fmt.Errorf("ledger balance %d/%d: %w", parent, sub, err)
	}
	return nil
}

// updateBalance adds deltas to an existing balance row (an outflow: the
// proposed row of an upsert would fail the CHECK constraints on
// PostgreSQL before the conflict is seen).
func updateBalance(ctx context.Context, tx *store.Tx, parent, sub int64, d bal) error {
	res, err := exec(ctx, tx, `UPDATE ledger_balances SET mg = mg + $3, points = points + $4, debt = debt + $5
		WHERE parent = $1 AND sub = $2`, parent, sub, d.mg, d.points, d.debt)
	if err != nil {
		return fmt.Errorf("ledger balance %d/%d: %w", parent, sub, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("ledger balance %d/%d: no row to update (%v)", parent, sub, err)
	}
	return nil
}

// split turns a net points position into (spendable points, debt).
func split(net int64) (points, debt int64) {
	if net >= 0 {
		return net, 0
	}
	return 0, -net
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}
