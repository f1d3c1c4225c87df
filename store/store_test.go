package store_test

import (
	"context"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

var demo = store.Component{Name: "demo", FS: fstest.MapFS{
	"001_init.sql":          {Data: []byte("CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL);\nCREATE INDEX kv_v ON kv (v);\n")},
	"002_more.sqlite.sql":   {Data: []byte("ALTER TABLE kv ADD COLUMN note TEXT NOT NULL DEFAULT 'sqlite';\n")},
	"002_more.postgres.sql": {Data: []byte("ALTER TABLE kv ADD COLUMN note TEXT NOT NULL DEFAULT 'postgres';\n")},
}}

func TestMigrate(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			ctx := context.Background()
			// Two processes' worth of handles migrating at once, then again.
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					db, err := store.Open(ctx, dsn)
					if err != nil {
						errs[i] = err
						return
					}
					defer db.Close()
					errs[i] = db.Migrate(ctx, demo)
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatalf("concurrent migrate: %v", err)
				}
			}
			db, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Migrate(ctx, demo); err != nil {
				t.Fatalf("second migrate: %v", err)
			}
			var n int
			if err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE component = 'demo'`).Scan(&n); err != nil || n != 2 {
				t.Fatalf("recorded migrations = %d, %v; want 2", n, err)
			}
			err = db.InTx(ctx, func(tx *store.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ($2, $1)`, 7, "seven")
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			var v int64
			var note string
			if err := db.Read().QueryRowContext(ctx, `SELECT v, note FROM kv WHERE k = $1`, "seven").Scan(&v, &note); err != nil {
				t.Fatal(err)
			}
			if v != 7 || note != string(d) {
				t.Fatalf("got v=%d note=%q; want 7 %q (out-of-order $N placeholders and dialect files)", v, note, d)
			}
			err = db.InTx(ctx, func(tx *store.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2)`, "seven", 8)
				return err
			})
			if !store.IsUniqueViolation(err) {
				t.Fatalf("duplicate insert: %v; want a unique violation", err)
			}
		})
	}
}

// TestExecLater: held writes are seen by the transaction's next statement
// and committed with it; one that fails fails the transaction (at its
// next statement or its commit), and nothing of it is written.
func TestExecLater(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Open(t, d, demo)
			ctx := context.Background()
			count := func() (n int) {
				t.Helper()
				if err := db.Read().QueryRow(`SELECT COUNT(*) FROM kv`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			err := db.InTx(ctx, func(tx *store.Tx) error {
				for _, k := range []string{"a", "b"} {
					if err := tx.ExecLater(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2)`, k, 1); err != nil {
						return err
					}
				}
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM kv`).Scan(&n); err != nil || n != 2 {
					t.Fatalf("read after held writes: %d %v", n, err)
				}
				if err := tx.ExecLater(ctx, `UPDATE kv SET v = v + $1 WHERE k = $2`, 10, "a"); err != nil {
					return err
				}
				return tx.ExecLater(ctx, `INSERT INTO kv (k, v, note) VALUES ($1, $2, '$1 text')`, "c", 3)
			})
			if err != nil || count() != 3 {
				t.Fatalf("commit: %v, %d rows", err, count())
			}
			var v int
			if err := db.Read().QueryRow(`SELECT v FROM kv WHERE k = 'a'`).Scan(&v); err != nil || v != 11 {
				t.Fatalf("a = %d %v", v, err)
			}
			t.Run("SameTableInOrder", func(t *testing.T) {
				// Held together, two updates of one row would run on one
				// snapshot and one would be lost: the second is held only
				// after the first was sent.
				err := db.InTx(ctx, func(tx *store.Tx) error {
					for range 2 {
						if err := tx.ExecLater(ctx, `UPDATE kv SET v = v + $1 WHERE k = $2`, 1, "b"); err != nil {
							return err
						}
					}
					// Not holdable (a comment): run at once, after the held write.
					return tx.ExecLater(ctx, `UPDATE kv SET v = v * $1 WHERE k = $2 -- doubled`, 2, "b")
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := db.Read().QueryRow(`SELECT v FROM kv WHERE k = 'b'`).Scan(&v); err != nil || v != 6 {
					t.Fatalf("b = %d %v", v, err)
				}
			})
			t.Run("ErrDuplicateBeforeQueryRow", func(t *testing.T) {
				err := db.InTx(ctx, func(tx *store.Tx) error {
					if err := tx.ExecLater(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2)`, "a", 5); err != nil {
						return err
					}
					var n int
					return tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM kv`).Scan(&n)
				})
				if !store.IsUniqueViolation(err) {
					t.Fatalf("the held write's error is the cause: %v", err)
				}
			})
			for _, next := range []string{"Commit", "Exec"} {
				t.Run("ErrDuplicateAt"+next, func(t *testing.T) {
					err := db.InTx(ctx, func(tx *store.Tx) error {
						if err := tx.ExecLater(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2)`, "d", 4); err != nil {
							return err
						}
						if err := tx.ExecLater(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2)`, "a", 5); err != nil {
							return err
						}
						if next == "Exec" {
							_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2)`, "e", 6)
							return err
						}
						return nil
					})
					if !store.IsUniqueViolation(err) || count() != 3 {
						t.Fatalf("duplicate held write: %v, %d rows", err, count())
					}
				})
			}
		})
	}
}
