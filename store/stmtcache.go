package store

import (
	"context"
	"database/sql"
	"sync"
)

// SQLite parses every statement it runs; for the multi-row INSERTs of a
// group commit parsing is a large part of the cost. stmtCache keeps the
// statements that write transactions run again and again prepared on the
// single writer connection, and Tx runs them through it. A statement is
// prepared after it was seen prepareAfter times (so one-off statements,
// like the tail of a chunked insert, are not), outside any transaction,
// since the writer pool has one connection. PostgreSQL needs none of this:
// pgx caches prepared statements per connection itself.
type stmtCache struct {
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	seen   map[string]int
	wanted []string
}

const (
	stmtCacheMax = 256
	prepareAfter = 3
	// seenMax bounds the texts counted while not yet prepared (a chunked
	// multi-row INSERT is ~10 KB): the count restarts when it is reached.
	seenMax = 512
)

func newStmtCache() *stmtCache {
	return &stmtCache{stmts: map[string]*sql.Stmt{}, seen: map[string]int{}}
}

// get returns q prepared, or nil after counting the sighting.
func (c *stmtCache) get(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[q]; st != nil {
		return st
	}
	if len(c.stmts)+len(c.wanted) >= stmtCacheMax {
		return nil
	}
	if len(c.seen) >= seenMax {
		clear(c.seen)
	}
	c.seen[q]++
	if c.seen[q] == prepareAfter {
		c.wanted = append(c.wanted, q)
		delete(c.seen, q)
	}
	return nil
}

// prepareWanted prepares the statements wanted since the last call on
// pool. A statement that fails to prepare is simply run unprepared.
func (c *stmtCache) prepareWanted(ctx context.Context, pool *sql.DB) {
	c.mu.Lock()
	wanted := c.wanted
	c.wanted = nil
	c.mu.Unlock()
	for _, q := range wanted {
		st, err := pool.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		c.stmts[q] = st
		c.mu.Unlock()
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}

// stmt returns q bound to tx if it is prepared in the cache.
func (tx *Tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if tx.cache == nil {
		return nil
	}
	if st := tx.local[q]; st != nil {
		return st
	}
	var st *sql.Stmt
	if ps := tx.cache.get(q); ps != nil {
		st = tx.Tx.StmtContext(ctx, ps)
	} else {
		// Not prepared on the connection yet: a statement this
		// transaction runs again (one per event in a savepoint loop) is
		// prepared for the rest of it.
		if tx.runs == nil {
			tx.runs = map[string]int{}
		}
		if tx.runs[q]++; tx.runs[q] < 2 {
			return nil
		}
		var err error
		if st, err = tx.Tx.PrepareContext(ctx, q); err != nil {
			return nil
		}
	}
	if tx.local == nil {
		tx.local = map[string]*sql.Stmt{}
	}
	tx.local[q] = st
	return st
}

// ExecContext runs q in the transaction, prepared when it is cached,
// after the writes held by ExecLater; so do QueryContext, QueryRowContext
// and PrepareContext.
func (tx *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if err := tx.flush(ctx); err != nil {
		return nil, err
	}
	if st := tx.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, q, args...)
}

// QueryContext runs q, as ExecContext does.
func (tx *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if err := tx.flush(ctx); err != nil {
		return nil, err
	}
	if st := tx.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, q, args...)
}

// QueryRowContext runs q, as ExecContext does.
func (tx *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	// A failed flush aborted the transaction (PostgreSQL): the query then
	// fails, and the commit reports the cause.
	_ = tx.flush(ctx)
	if st := tx.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, q, args...)
}

// PrepareContext prepares q on the transaction, as ExecContext does.
func (tx *Tx) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	if err := tx.flush(ctx); err != nil {
		return nil, err
	}
	return tx.Tx.PrepareContext(ctx, q)
}

// readStmts holds statements prepared on the read pool; see ReadQueryRow.
type readStmts struct {
	m sync.Map // query → *sql.Stmt
}

// ReadQueryRow runs a read-only query on the read pool. On SQLite the
// statement is prepared once per connection and kept (the pure-Go driver
// otherwise parses it on every call, tens of microseconds for a point
// lookup); PostgreSQL's driver caches statements itself. q must be a
// constant: every distinct text is kept for the life of the DB.
func (db *DB) ReadQueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if db.Dialect != SQLite {
		return db.read.QueryRowContext(ctx, q, args...)
	}
	if st, ok := db.reads.m.Load(q); ok {
		return st.(*sql.Stmt).QueryRowContext(ctx, args...)
	}
	st, err := db.read.PrepareContext(ctx, q)
	if err != nil {
		return db.read.QueryRowContext(ctx, q, args...)
	}
	if prev, loaded := db.reads.m.LoadOrStore(q, st); loaded {
		st.Close()
		st = prev.(*sql.Stmt)
	}
	return st.QueryRowContext(ctx, args...)
}

func (r *readStmts) close() {
	r.m.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		r.m.Delete(k)
		return true
	})
}
