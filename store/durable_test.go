package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedSync replaces db's WAL fsync with one that counts the fsyncs and
// waits, before doing the real one, until the test lets it through.
type gatedSync struct {
	calls   atomic.Int64
	started chan int64    // the number of each fsync as it starts
	release chan struct{} // one receive lets one fsync finish
	err     error         // returned instead of fsyncing, when set
}

func gate(t *testing.T, db *DB) *gatedSync {
	t.Helper()
	if db.wal == nil {
		t.Fatal("no WAL sync on a SQLite database")
	}
	g := &gatedSync{started: make(chan int64, 16), release: make(chan struct{})}
	WrapWALSync(db, func(real func() error) func() error {
		return func() error {
			g.started <- g.calls.Add(1)
			<-g.release
			if g.err != nil {
				return g.err
			}
			return real()
		}
	})
	return g
}

func openSQLite(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Write().Exec(`CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	return db
}

func insert(db *DB) error {
	return db.InTx(context.Background(), func(tx *Tx) error {
		_, err := tx.ExecContext(context.Background(), `INSERT INTO t (x) VALUES (1)`)
		return err
	})
}

// returned reports whether the channel has a value within a moment.
func returned(c <-chan error) bool {
	select {
	case <-c:
		return true
	case <-time.After(50 * time.Millisecond):
		return false
	}
}

// TestDurable: the SQLite writer commits without fsyncing (synchronous
// NORMAL) and InTx returns only after an fsync of the WAL that started
// after its commit; concurrent callers share fsyncs.
func TestDurable(t *testing.T) {
	t.Run("WriterIsNormal", func(t *testing.T) {
		db := openSQLite(t)
		var mode int
		if err := db.Write().QueryRow(`PRAGMA synchronous`).Scan(&mode); err != nil || mode != 1 {
			t.Fatalf("writer synchronous = %d (%v); want 1 (NORMAL)", mode, err)
		}
		if err := insert(db); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("WaitsForItsFsync", func(t *testing.T) {
		db := openSQLite(t)
		g := gate(t, db)
		done := make(chan error, 1)
		go func() { done <- insert(db) }()
		<-g.started // the commit is written; its fsync started
		var n int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("committed rows seen by a reader: %d %v", n, err)
		}
		if returned(done) {
			t.Fatal("InTx returned before its fsync finished")
		}
		g.release <- struct{}{}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("NotAnEarlierFsync", func(t *testing.T) {
		db := openSQLite(t)
		g := gate(t, db)
		first := make(chan error, 1)
		go func() { first <- db.Durable() }()
		<-g.started // fsync 1 runs, started before the insert below commits
		done := make(chan error, 1)
		go func() { done <- insert(db) }()
		time.Sleep(20 * time.Millisecond) // let the insert commit and wait
		g.release <- struct{}{}           // fsync 1 ends: it cannot cover the insert
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if returned(done) {
			t.Fatal("InTx returned on an fsync that started before its commit")
		}
		if n := <-g.started; n != 2 {
			t.Fatalf("fsync %d started; want 2", n)
		}
		g.release <- struct{}{}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Shared", func(t *testing.T) {
		db := openSQLite(t)
		g := gate(t, db)
		first := make(chan error, 1)
		go func() { first <- insert(db) }()
		<-g.started
		// Eight commits while fsync 1 runs: one more fsync serves them all.
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- insert(db) }()
		}
		time.Sleep(50 * time.Millisecond)
		g.release <- struct{}{}
		<-g.started
		g.release <- struct{}{}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if n := g.calls.Load(); n != 2 {
			t.Fatalf("%d fsyncs for 9 commits in two groups; want 2", n)
		}
	})
	t.Run("FailureIsSticky", func(t *testing.T) {
		db := openSQLite(t)
		g := gate(t, db)
		g.err = errors.New("EIO")
		done := make(chan error, 1)
		go func() { done <- insert(db) }()
		<-g.started
		g.release <- struct{}{}
		if err := <-done; err == nil || !errors.Is(err, g.err) {
			t.Fatalf("InTx after a failed fsync: %v", err)
		}
		// Later transactions fail before they write, without another
		// fsync (the page cache can no longer be trusted), and readiness
		// fails: the process must be restarted.
		if err := insert(db); err == nil || !errors.Is(err, g.err) {
			t.Fatalf("a commit after a failed fsync: %v", err)
		}
		if err := db.Durable(); err == nil {
			t.Fatal("Durable after a failed fsync: nil")
		}
		if n := g.calls.Load(); n != 1 {
			t.Fatalf("%d fsyncs; want 1", n)
		}
		var n int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("rows after the failure: %d %v; want the first commit only", n, err)
		}
		if err := db.Ping(context.Background()); err == nil || !errors.Is(err, g.err) {
			t.Fatalf("Ping after a failed fsync: %v", err)
		}
	})
	t.Run("Closed", func(t *testing.T) {
		db, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "d.db"))
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		if err := db.Durable(); !errors.Is(err, errWALClosed) {
			t.Fatalf("Durable after Close: %v", err)
		}
	})
	// The database's path is a symlink, and a stale -wal file lies beside
	// it: the fsyncs must go to the WAL SQLite writes, beside the real file.
	t.Run("Symlink", func(t *testing.T) {
		dir := t.TempDir()
		real, link := filepath.Join(dir, "real"), filepath.Join(dir, "link")
		for _, d := range []string{real, link} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink(filepath.Join(real, "d.db"), filepath.Join(link, "d.db")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(link, "d.db-wal"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		db, err := Open(context.Background(), "sqlite:"+filepath.Join(link, "d.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if db.wal == nil {
			t.Fatal("no WAL sync through a symlink")
		}
		a, err := db.wal.f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.Stat(filepath.Join(real, "d.db-wal"))
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(a, b) {
			t.Fatal("the WAL fsynced is not the one beside the real database file")
		}
	})
}
