package store

import (
	"context"
	"fmt"
	"slices"
)

// Relation is a table or an index of the database and the bytes its pages
// take. Table is the table an index belongs to (its own name for a table).
type Relation struct {
	Name, Table string
	Bytes       int64
}

// Relations lists the tables and indexes of db (PostgreSQL: of the
// current schema), largest first: SQLite's dbstat, PostgreSQL's
// pg_table_size for a table (with its TOAST, where large values go) and
// pg_relation_size for an index. The benchmarks report bytes stored per
// event with it.
func Relations(ctx context.Context, db *DB) ([]Relation, error) {
	q := `SELECT d.name, COALESCE(m.tbl_name, d.name), SUM(d.pgsize) FROM dbstat d LEFT JOIN sqlite_schema m ON m.name = d.name
		GROUP BY d.name, m.tbl_name ORDER BY 3 DESC, 1`
	if db.Dialect == Postgres {
		q = `SELECT c.relname, COALESCE(t.relname, c.relname),
			CASE WHEN c.relkind = 'r' THEN pg_table_size(c.oid) ELSE pg_relation_size(c.oid) END
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = i.indrelid
			WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i') ORDER BY 3 DESC, 1`
	}
	rows, err := db.Read().QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("relation sizes: %w", err)
	}
	defer rows.Close()
	var out []Relation
	for rows.Next() {
		var r Relation
		if err := rows.Scan(&r.Name, &r.Table, &r.Bytes); err != nil {
			return nil, fmt.Errorf("relation sizes: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("relation sizes: %w", err)
	}
	return out, nil
}

// Bytes sums the sizes of rs whose table is one of tables (all of rs when
// tables is empty).
func Bytes(rs []Relation, tables ...string) int64 {
	var n int64
	for _, r := range rs {
		if len(tables) == 0 || slices.Contains(tables, r.Table) {
			n += r.Bytes
		}
	}
	return n
}
