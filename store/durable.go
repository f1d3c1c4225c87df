package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// Durability on SQLite: commit first, fsync beside.
//
// With synchronous=FULL SQLite fsyncs the WAL inside every commit, holding
// the one write lock meanwhile: under the single-event HTTP bench that
// fsync was a fifth of the intake writer's time, spent waiting while
// requests queued. Here the writer connection commits with
// synchronous=NORMAL (the frames are written to the WAL, not yet
// fsynced), and walSync fsyncs the WAL from another goroutine, once for
// every transaction committed before the fsync started: while it runs, the
// writer already writes the next transaction.
//
// What this keeps:
//   - Nothing is acknowledged before it is on disk. InTx returns only after
//     an fsync that started after its commit; InTxLater's callers (the
//     intake's group commit) call Durable before they answer.
//   - A power loss leaves a prefix of the commits. The WAL's frames are
//     checksummed in a chain, so recovery keeps the frames up to the first
//     one missing or torn: a transaction is never kept without every one
//     committed before it, and an acknowledged one was fsynced with them.
//   - The database file only receives fsynced frames: a checkpoint (the
//     checkpointer's FULL connection, or the writer's own) fsyncs the WAL
//     before it copies frames back.
//
// What changes: a commit is visible to readers a few milliseconds before
// it is durable. A power loss in that window (not a process crash: the
// written frames are in the page cache) can take back what a read showed,
// never what a write answered. Readers whose effects leave the database
// (the outbox feeds: webhooks, leaderboards, medals) call Durable after
// they read (webhook.Feed.Next), so they act only on durable commits.
type walSync struct {
	f    *os.File     // the -wal file, open as long as the DB
	sync func() error // f.Sync; tests slow it down

	mu      sync.Mutex
	cond    sync.Cond
	started uint64 // fsyncs started (one runs at a time)
	done    uint64 // fsyncs completed
	running bool
	err     error  // a failed fsync: sticky, see wait
	errAt   uint64 // the number of the fsync that failed
	closed  bool
}

// openWALSync opens the -wal file of the SQLite database whose writer pool
// w already has in WAL mode, and switches w's connection to
// synchronous=NORMAL. If the WAL cannot be opened it logs why and returns
// nil: the writer keeps synchronous=FULL.
func openWALSync(ctx context.Context, w *sql.DB) (*walSync, error) {
	// A read transaction on the writer opens (creates) the WAL file.
	var n int
	if err := w.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master`).Scan(&n); err != nil {
		return nil, fmt.Errorf("wal sync: %w", err)
	}
	// SQLite names the WAL after the database's full path with symlinks
	// resolved, which database_list reports; a name built from the DSN's
	// path could be a stale file beside a symlink, whose fsyncs would
	// cover nothing.
	var seq int
	var schema, file string
	if err := w.QueryRowContext(ctx, `PRAGMA database_list`).Scan(&seq, &schema, &file); err != nil {
		return nil, fmt.Errorf("wal sync: %w", err)
	}
	f, err := os.OpenFile(file+"-wal", os.O_RDWR, 0)
	if err != nil {
		slog.Warn("sqlite: cannot open the WAL, commits keep synchronous=FULL (fsynced inside the writer)", "wal", file+"-wal", "err", err)
		return nil, nil
	}
	// The pool has one connection, kept for the DB's life. Should
	// database/sql replace it, the new one has the DSN's FULL again:
	// slower, never less durable.
	if _, err := w.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		f.Close()
		return nil, fmt.Errorf("wal sync: %w", err)
	}
	s := &walSync{f: f, sync: f.Sync}
	s.cond.L = &s.mu
	return s, nil
}

var errWALClosed = errors.New("sqlite: the database is closed")

// wait returns once an fsync of the WAL that started after wait was called
// has completed, so every transaction committed before the call is
// durable. Concurrent callers share fsyncs: a caller that finds one
// running waits for it and the next, which one of the waiters runs for
// all of them.
//
// An fsync that failed leaves the page cache in an unknown state (Linux
// may report a later fsync as a success for pages it never wrote), so its
// error is returned to every caller that needed it or a later one, and
// failed() makes new write transactions fail: the process must be
// restarted, and SQLite's recovery keeps a prefix of what was written. A
// caller whose own fsync completed before the failure gets nil.
func (s *walSync) wait() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	need := s.started + 1 // the next fsync to start starts after this call
	for s.done < need && s.err == nil && !s.closed {
		if s.running {
			s.cond.Wait()
			continue
		}
		s.running = true
		s.started++
		n := s.started
		s.mu.Unlock()
		err := s.sync()
		s.mu.Lock()
		s.running = false
		s.done = n
		if err != nil && s.err == nil {
			s.err = fmt.Errorf("fsync of the SQLite WAL failed, restart the service: %w", err)
			s.errAt = n
		}
		s.cond.Broadcast()
	}
	switch {
	case s.err != nil && s.errAt <= need:
		return s.err
	case s.done >= need:
		return nil
	}
	return errWALClosed
}

// failed returns the sticky error of a failed fsync, if any (nil without
// a walSync).
func (s *walSync) failed() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// close waits for a running fsync, then closes the file; later waits
// return errWALClosed.
func (s *walSync) close() error {
	s.mu.Lock()
	for s.running {
		s.cond.Wait()
	}
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	return s.f.Close()
}

// Durable returns once every transaction committed before the call is on
// disk. On SQLite it waits for an fsync of the WAL that starts after the
// call, shared with concurrent callers (see walSync); on PostgreSQL, and on
// SQLite with synchronous=FULL, a commit is durable when it returns, so
// Durable returns at once.
func (db *DB) Durable() error {
	if db.wal == nil {
		return nil
	}
	return db.wal.wait()
}

// InTxLater is InTx without the wait for durability: it returns once the
// transaction has committed. Its writes are visible to other transactions
// at once but, on SQLite, survive a power loss only once Durable returns,
// so a caller must call Durable before it acknowledges anything the
// transaction wrote. The intake's group commit uses it to write its next
// batch while the fsync of the last one runs.
func (db *DB) InTxLater(ctx context.Context, fn func(tx *Tx) error) error {
	return db.inTxRetry(ctx, fn)
}

// WrapWALSync replaces the fsync of db's WAL by wrap(fsync), before db is
// used concurrently, and reports whether db has one (SQLite). Tests use it
// to hold an fsync back, or make one fail.
func WrapWALSync(db *DB, wrap func(fsync func() error) func() error) bool {
	if db.wal == nil {
		return false
	}
	db.wal.sync = wrap(db.wal.sync)
	return true
}
