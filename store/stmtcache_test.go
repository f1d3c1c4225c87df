package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// TestStmtCache: a statement that write transactions run repeatedly is
// prepared on the writer connection after prepareAfter runs, and runs
// through the cache with the same results; rolled-back work stays rolled
// back.
func TestStmtCache(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Write().Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	const ins = `INSERT INTO t (k, v) VALUES ($1, $2)`
	const sel = `SELECT v FROM t WHERE k = $1`
	for i := 1; i <= 6; i++ {
		err := db.InTx(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, ins, i, "v"); err != nil {
				return err
			}
			var v string
			if err := tx.QueryRowContext(ctx, sel, i).Scan(&v); err != nil || v != "v" {
				t.Fatalf("read back %d: %q %v", i, v, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	db.stmts.mu.Lock()
	prepared := db.stmts.stmts[ins] != nil && db.stmts.stmts[sel] != nil
	db.stmts.mu.Unlock()
	if !prepared {
		t.Fatal("repeated statements were not prepared")
	}
	// A failing transaction through cached statements leaves nothing.
	err = db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, ins, 100, "x"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, ins, 1, "dup")
		return err
	})
	if !IsUniqueViolation(err) {
		t.Fatalf("duplicate key through the cache: %v", err)
	}
	var n int
	if err := db.Read().QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 6 {
		t.Fatalf("rows after rollback: %d %v", n, err)
	}
}

// TestReadQueryRow: a read through the kept statement sees committed
// writes, from several goroutines at once, and a query that cannot be
// prepared reports its error through Scan.
func TestReadQueryRow(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Write().Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT v FROM t WHERE k = $1`
	for round := 1; round <= 3; round++ {
		if _, err := db.Write().Exec(`INSERT INTO t (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, 1, round); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 8)
		for range 8 {
			go func() {
				var v int
				err := db.ReadQueryRow(ctx, q, 1).Scan(&v)
				if err == nil && v != round {
					err = fmt.Errorf("read %d, want %d", v, round)
				}
				errs <- err
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	var v int
	if err := db.ReadQueryRow(ctx, `SELECT v FROM missing WHERE k = $1`, 1).Scan(&v); err == nil {
		t.Fatal("a query on a missing table succeeded")
	}
}
