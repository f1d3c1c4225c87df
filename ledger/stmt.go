package ledger

import (
	"context"
	"database/sql"
	"sync"

	"github.com/opencarbon/opencarbon/store"
)

// SQLite (modernc) parses every statement again on each call, which cost
// half the time of a credit; PostgreSQL (pgx) already caches prepared
// statements per connection. So on SQLite the ledger prepares each of its
// statements once per transaction: the intake's 1000-credit transactions
// parse them once instead of 1000 times. database/sql closes statements
// prepared on a transaction when it ends; the cache only keeps the last few
// transactions (SQLite has one writer, so one is live at a time per
// database) and holds them, so a pointer is never reused while cached.
type stmtCache struct {
	mu    sync.Mutex
	slots []*txStmts
}

type txStmts struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

const stmtSlots = 8

var stmts stmtCache

// prepared returns query prepared on tx, or nil when it should run
// unprepared (PostgreSQL, or a prepare error that the plain call reports).
func prepared(ctx context.Context, tx *store.Tx, query string) *sql.Stmt {
	if tx.Dialect != store.SQLite {
		return nil
	}
	stmts.mu.Lock()
	defer stmts.mu.Unlock()
	var slot *txStmts
	for _, s := range stmts.slots {
		if s.tx == tx.Tx {
			slot = s
			break
		}
	}
	if slot == nil {
		slot = &txStmts{tx: tx.Tx, stmts: map[string]*sql.Stmt{}}
		if len(stmts.slots) >= stmtSlots {
			copy(stmts.slots, stmts.slots[1:])
			stmts.slots = stmts.slots[:stmtSlots-1]
		}
		stmts.slots = append(stmts.slots, slot)
	}
	if st, ok := slot.stmts[query]; ok {
		return st
	}
	st, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	slot.stmts[query] = st
	return st
}

// exec runs a write statement in tx, prepared once per transaction on SQLite.
func exec(ctx context.Context, tx *store.Tx, query string, args ...any) (sql.Result, error) {
	if st := prepared(ctx, tx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// queryRow runs a one-row query in tx, prepared once per transaction on
// SQLite.
func queryRow(ctx context.Context, tx *store.Tx, query string, args ...any) *sql.Row {
	if st := prepared(ctx, tx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}
