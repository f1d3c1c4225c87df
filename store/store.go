// Package store owns the database handle: opening SQLite (modernc.org/sqlite)
// or PostgreSQL (jackc/pgx/v5 through database/sql), applying each
// component's embedded migrations, and running write transactions with a
// fixed "now".
//
// SQL is written once for both dialects where possible: $1-style
// placeholders (SQLite accepts them too), BIGINT unix-microsecond times,
// TEXT for JSON, ON CONFLICT and RETURNING. Where a migration must differ,
// a component ships NNN_name.sqlite.sql and NNN_name.postgres.sql.
//
// store knows nothing about HTTP or about any domain table; it must never
// import a domain package.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the SQL dialect of a DB.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open database. Writes go through Tx; reads may use Read.
//
// On SQLite the writer is a single connection (one writer, BEGIN IMMEDIATE)
// and readers use a separate pool of WAL readers. On PostgreSQL both are the
// same pool.
type DB struct {
	Dialect Dialect
	DSN     string

	write *sql.DB
	read  *sql.DB
	stmts *stmtCache    // SQLite: statements prepared on the writer connection
	reads readStmts     // SQLite: statements prepared on the read pool
	ckpt  *checkpointer // SQLite: WAL checkpoints off the writer (checkpoint.go)
	wal   *walSync      // SQLite: WAL fsyncs beside the writer (durable.go); nil: FULL

	// Now returns the current time; tests may replace it before use.
	Now func() time.Time
}

// Open opens the database named by dsn: "sqlite:PATH" (or a bare path, or
// "file:PATH") for SQLite, "postgres://..." or "postgresql://..." for
// PostgreSQL. It does not apply migrations.
func Open(ctx context.Context, dsn string) (*DB, error) {
	db := &DB{DSN: dsn, Now: func() time.Time { return time.Now().UTC() }}
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db.Dialect = Postgres
		pool, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		pool.SetMaxOpenConns(32)
		pool.SetMaxIdleConns(32)
		pool.SetConnMaxIdleTime(5 * time.Minute)
		db.write, db.read = pool, pool
	default:
		db.Dialect = SQLite
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "file:")
		if path == "" {
			return nil, errors.New("open sqlite: empty path")
		}
		w, err := sql.Open("sqlite", sqliteDSN(path, true))
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		w.SetConnMaxIdleTime(0)
		db.write = w
		db.stmts = newStmtCache()
		// The writer must create the file and switch it to WAL before
		// readers open it. Switching a new file to WAL needs an exclusive
		// lock and answers SQLITE_BUSY at once, without the busy timeout,
		// while another process does the same (serve and migrate started
		// together), so it is retried here.
		if err := pingSQLite(ctx, w); err != nil {
			w.Close()
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		r, err := sql.Open("sqlite", sqliteDSN(path, false))
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		r.SetMaxOpenConns(8)
		r.SetMaxIdleConns(8)
		db.read = r
		c, err := startCheckpointer(path, w)
		if err != nil {
			w.Close()
			r.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		db.ckpt = c
		if db.wal, err = openWALSync(ctx, w); err != nil {
			db.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
	}
	if err := db.read.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("ping %s: %w", db.Dialect, err)
	}
	return db, nil
}

// pingSQLite opens the writer's connection, retrying SQLITE_BUSY for up to
// the busy timeout.
func pingSQLite(ctx context.Context, w *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := w.PingContext(ctx)
		if err == nil || !IsRetryable(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func sqliteDSN(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	if writer {
		// FULL: a commit is on disk before it returns, even across a power
		// loss. Open then switches the writer to NORMAL and fsyncs the WAL
		// beside it (durable.go); FULL stays if it cannot.
		q.Add("_pragma", "synchronous(FULL)")
		// Checkpoints are the checkpointer's (checkpoint.go); the writer's
		// own automatic checkpoint stays as a backstop, further out.
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walAutocheckpoint))
		q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walSizeLimit))
		// The page cache stays at SQLite's 2 MiB: 64 MiB (fewer pages read
		// back from the WAL or the file) measured no faster end to end.
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + path + "?" + q.Encode()
}

// Close closes every pool.
func (db *DB) Close() error {
	var err error
	if db.ckpt != nil {
		err = db.ckpt.close()
	}
	if db.stmts != nil {
		db.stmts.close()
	}
	db.reads.close()
	if db.write != nil {
		if e := db.write.Close(); err == nil {
			err = e
		}
	}
	if db.read != nil && db.read != db.write {
		if e := db.read.Close(); err == nil {
			err = e
		}
	}
	if db.wal != nil {
		// Last: SQLite's connections are closed (and have checkpointed).
		if e := db.wal.close(); err == nil {
			err = e
		}
	}
	return err
}

// Read returns the pool for read-only queries. On SQLite these run on WAL
// readers and never wait for the writer.
func (db *DB) Read() *sql.DB { return db.read }

// Write returns the writer pool. Prefer Tx; this is for statements that
// must run outside a transaction.
func (db *DB) Write() *sql.DB { return db.write }

// Ping checks that the database answers and, on SQLite, that no fsync of
// the WAL has failed (see Durable), for readiness probes.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.wal.failed(); err != nil {
		return err
	}
	return db.read.PingContext(ctx)
}

// Tx is a write transaction with the time fixed at its start, so every row
// written by one transaction carries the same "now".
type Tx struct {
	*sql.Tx
	Now     time.Time
	Dialect Dialect

	cache *stmtCache           // SQLite only (stmtcache.go)
	local map[string]*sql.Stmt // cached statements bound to this transaction
	runs  map[string]int       // statements run unprepared in this transaction

	held    []held // PostgreSQL writes not yet sent (later.go)
	heldErr error  // their failure
}

// InTx runs fn in a write transaction and commits it if fn returns nil,
// and returns once the commit is durable (Durable). On PostgreSQL a
// serialization failure or deadlock is retried a few times; fn must
// therefore have no effects outside the transaction.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	if err := db.inTxRetry(ctx, fn); err != nil {
		return err
	}
	return db.Durable()
}

func (db *DB) inTxRetry(ctx context.Context, fn func(tx *Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := db.inTx(ctx, fn)
		if err != nil && attempt < 5 && IsRetryable(err) {
			time.Sleep(time.Duration(attempt+1) * 3 * time.Millisecond)
			continue
		}
		return err
	}
}

func (db *DB) inTx(ctx context.Context, fn func(tx *Tx) error) error {
	// After a failed fsync nothing more is written (see walSync.wait).
	if err := db.wal.failed(); err != nil {
		return err
	}
	stx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{Tx: stx, Now: db.Now().UTC(), Dialect: db.Dialect, cache: db.stmts}
	if db.stmts != nil {
		// After the transaction, when the writer connection is free.
		defer db.stmts.prepareWanted(ctx, db.write)
	}
	defer stx.Rollback()
	if err := fn(tx); err != nil {
		if tx.heldErr != nil {
			// The statement fn saw fail after a held write failed
			// (PostgreSQL had aborted the transaction): the held
			// write's error is the cause, and decides a retry.
			return errors.Join(tx.heldErr, err)
		}
		return err
	}
	if err := tx.flush(ctx); err != nil {
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// IsRetryable reports whether err is a conflict with another transaction
// that succeeds when tried again: a PostgreSQL deadlock or serialization
// failure, SQLite busy or locked.
func IsRetryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	return false
}

// IsUniqueViolation reports whether err is a unique-constraint violation
// on either dialect.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Micros converts t to the unix microseconds stored in BIGINT time columns.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// Time converts stored unix microseconds back to a UTC time.
func Time(us int64) time.Time { return time.UnixMicro(us).UTC() }
