package store

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Component is one capability's set of migrations: files named
// NNN_description.sql in FS (applied on both dialects) or
// NNN_description.sqlite.sql / NNN_description.postgres.sql (applied on
// one). Versions are per component and applied in ascending order.
type Component struct {
	Name string
	FS   fs.FS
	// Dir is the folder of FS holding the files ("" or "." for its root),
	// so a package can pass its //go:embed migrations/*.sql FS as is.
	Dir string
}

type migration struct {
	version int
	name    string
	body    string
}

func (c Component) migrations(d Dialect) ([]migration, error) {
	dir := c.Dir
	if dir == "" {
		dir = "."
	}
	entries, err := fs.ReadDir(c.FS, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations %s: %w", c.Name, err)
	}
	byVersion := map[int]migration{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		base := strings.TrimSuffix(name, ".sql")
		specific := false
		switch {
		case strings.HasSuffix(base, ".sqlite"):
			if d != SQLite {
				continue
			}
			specific = true
		case strings.HasSuffix(base, ".postgres"):
			if d != Postgres {
				continue
			}
			specific = true
		}
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migrations %s: %q does not start with NNN_", c.Name, name)
		}
		body, err := fs.ReadFile(c.FS, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if old, dup := byVersion[v]; dup && !specific {
			_ = old
			continue // a dialect-specific file wins over the common one
		}
		byVersion[v] = migration{version: v, name: name, body: string(body)}
	}
	out := make([]migration, 0, len(byVersion))
	for _, m := range byVersion {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// Migrate applies every component's pending migrations, each file in its
// own transaction, recording it in schema_migrations. It is safe to run
// twice and from several processes at once: PostgreSQL serialises runners
// with an advisory lock on the current schema, SQLite with BEGIN IMMEDIATE.
func (db *DB) Migrate(ctx context.Context, comps ...Component) error {
	if db.Dialect == Postgres {
		conn, err := db.write.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer conn.Close()
		var schema string
		if err := conn.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		h := fnv.New64a()
		h.Write([]byte("opencarbon.migrate." + schema))
		key := int64(h.Sum64() >> 1)
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
			return fmt.Errorf("migrate lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
		return migrateOn(ctx, db.Dialect, func(ctx context.Context) (*sql.Tx, error) { return conn.BeginTx(ctx, nil) }, comps)
	}
	if err := migrateOn(ctx, db.Dialect, func(ctx context.Context) (*sql.Tx, error) { return db.write.BeginTx(ctx, nil) }, comps); err != nil {
		return err
	}
	return db.Durable()
}

func migrateOn(ctx context.Context, d Dialect, begin func(context.Context) (*sql.Tx, error), comps []Component) error {
	tx, err := begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	_, err = tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component TEXT NOT NULL,
		version INTEGER NOT NULL,
		name TEXT NOT NULL,
		applied_at BIGINT NOT NULL,
		PRIMARY KEY (component, version))`)
	if err == nil {
		err = tx.Commit()
	} else {
		tx.Rollback()
	}
	if err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	for _, c := range comps {
		ms, err := c.migrations(d)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if err := applyOne(ctx, begin, c.Name, m); err != nil {
				return err
			}
		}
	}
	return nil
}

func applyOne(ctx context.Context, begin func(context.Context) (*sql.Tx, error), comp string, m migration) error {
	tx, err := begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s/%s: %w", comp, m.name, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE component = $1 AND version = $2`, comp, m.version).Scan(&n); err != nil {
		return fmt.Errorf("migrate %s/%s: %w", comp, m.name, err)
	}
	if n > 0 {
		return nil
	}
	for _, stmt := range splitStatements(m.body) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrate %s/%s: %w", comp, m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (component, version, name, applied_at) VALUES ($1, $2, $3, $4)`,
		comp, m.version, m.name, Micros(time.Now())); err != nil {
		return fmt.Errorf("migrate %s/%s: record: %w", comp, m.name, err)
	}
	return tx.Commit()
}

// splitStatements splits a migration on semicolons at line ends. Migrations
// therefore keep one statement per ";\n" and no semicolons inside string
// literals at the end of a line.
func splitStatements(body string) []string {
	var out []string
	for _, s := range strings.Split(body, ";\n") {
		s = strings.TrimSpace(s)
		s = strings.TrimSuffix(s, ";")
		if stripComments(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "--") {
			b.WriteString(t)
		}
	}
	return b.String()
}
