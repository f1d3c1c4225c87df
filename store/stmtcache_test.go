package store

import (
	"context"
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
