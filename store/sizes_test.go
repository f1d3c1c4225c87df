package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestRelations: every table and index of the schema is listed under its
// table, and rows written to kv grow kv and its indexes, not the others.
func TestRelations(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db := storetest.Open(t, d, demo)
			before, err := store.Relations(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			// kv's long values go out of line on PostgreSQL (TOAST), which
			// its table's size counts: random hex, which does not compress.
			err = db.InTx(ctx, func(tx *store.Tx) error {
				for i := range 1024 {
					b := make([]byte, 1500)
					rand.Read(b)
					if _, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v, note) VALUES ($1, $2, $3)`, fmt.Sprint("k", i), i, hex.EncodeToString(b)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			after, err := store.Relations(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			tables := map[string]string{}
			for _, r := range after {
				tables[r.Name] = r.Table
			}
			if tables["kv"] != "kv" || tables["kv_v"] != "kv" || tables["schema_migrations"] != "schema_migrations" {
				t.Fatalf("relations and their tables: %v", tables)
			}
			grew, others := store.Bytes(after, "kv")-store.Bytes(before, "kv"), store.Bytes(after)-store.Bytes(after, "kv")-(store.Bytes(before)-store.Bytes(before, "kv"))
			if grew < 1024*1024 || others != 0 {
				t.Fatalf("kv grew %d bytes for 1,024 rows of 3 KB, the rest %d; want at least 1 MB and 0", grew, others)
			}
		})
	}
}
