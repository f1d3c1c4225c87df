package store

import (
	"context"
	"database/sql"
	"fmt"
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
	err     error // a failed fsync: sticky, see wait
}

// openWALSync opens the -wal file of the SQLite database at path (which w,
// its writer pool, already has in WAL mode) and switches w's connection
// to synchronous=NORMAL. If the WAL cannot be opened it returns nil and
// the writer keeps synchronous=FULL.
func openWALSync(ctx context.Context, path string, w *sql.DB) (*walSync, error) {
	// A read transaction on the writer opens (creates) the WAL file.
	var n int
	if err := w.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master`).Scan(&n); err != nil {
		return nil, fmt.Errorf("wal sync: %w", err)
	}
	f, err := os.OpenFile(path+"-wal", os.O_RDWR, 0)
	if err != nil {
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

// wait returns once an fsync of the WAL that started after wait was called
// has completed, so every transaction committed before the call is
// durable. Concurrent callers share fsyncs: a caller that finds one
// running waits for it and the next, which one of the waiters runs for
// all of them. An fsync that failed leaves the page cache in an unknown
// state (a later fsync may report success for pages never written), so
// its error is returned to every caller from then on: the process must be
// restarted, and SQLite's recovery keeps a prefix of what was written.
func (s *walSync) wait() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	need := s.started + 1 // the next fsync to start starts after this call
	for s.done < need && s.err == nil {
		if s.running {
			s.cond.Wait()
			continue
		}
		s.running = true
		s.started++
		s.mu.Unlock()
		err := s.sync()
		s.mu.Lock()
		s.running = false
		s.done = s.started
		if err != nil {
			s.err = fmt.Errorf("fsync of the SQLite WAL failed, restart the service: %w", err)
		}
		s.cond.Broadcast()
	}
	return s.err
}

func (s *walSync) close() error { return s.f.Close() }

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
