// Package storetest opens real databases for tests: a SQLite file in
// t.TempDir() and a fresh PostgreSQL schema per test, so one test body runs
// unchanged on both dialects and tests can run in parallel.
//
// PostgreSQL is found through OPENCARBON_TEST_POSTGRES (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable). When it does not
// answer the PostgreSQL half is skipped with a message, unless
// OPENCARBON_REQUIRE_SERVICES=1, where it fails the test.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opencarbon/opencarbon/store"
)

// PostgresURL returns the base PostgreSQL URL used by tests.
func PostgresURL() string {
	if u := os.Getenv("OPENCARBON_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// RequireServices reports whether a missing service must fail the test run.
func RequireServices() bool { return os.Getenv("OPENCARBON_REQUIRE_SERVICES") == "1" }

// SkipOrFail skips tb with why, or fails it when services are required.
func SkipOrFail(tb testing.TB, why string) {
	tb.Helper()
	if RequireServices() {
		tb.Fatalf("required service unavailable (OPENCARBON_REQUIRE_SERVICES=1): %s", why)
	}
	tb.Skipf("skipping: %s (set OPENCARBON_TEST_POSTGRES / OPENCARBON_TEST_REDIS or start the service)", why)
}

// Each runs fn as a subtest named "sqlite" and one named "postgres", each on
// a freshly migrated database.
func Each(t *testing.T, comps []store.Component, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			fn(t, Open(t, d, comps...))
		})
	}
}

// Open returns a migrated database of dialect d that is closed (and, on
// PostgreSQL, dropped) when tb ends.
func Open(tb testing.TB, d store.Dialect, comps ...store.Component) *store.DB {
	tb.Helper()
	dsn := DSN(tb, d)
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		tb.Fatalf("open %s: %v", d, err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, comps...); err != nil {
		tb.Fatalf("migrate %s: %v", d, err)
	}
	return db
}

// DSN returns the DSN of a new, empty database of dialect d that lives as
// long as tb: a file in tb.TempDir() or a new PostgreSQL schema.
func DSN(tb testing.TB, d store.Dialect) string {
	tb.Helper()
	if d == store.SQLite {
		return "sqlite:" + filepath.Join(tb.TempDir(), "test.db")
	}
	base := PostgresURL()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		SkipOrFail(tb, "postgres: "+err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		SkipOrFail(tb, "postgres at "+base+" does not answer: "+err.Error())
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		if os.Getenv("OPENCARBON_TEST_KEEP") != "" {
			tb.Logf("kept schema %s (OPENCARBON_TEST_KEEP)", schema)
		} else {
			admin.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse %s: %v", base, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Before returns c with only its migrations numbered below version (file
// names start with the number: 001_..., 002_...), to set up a database as
// an older release left it and test the upgrade.
func Before(tb testing.TB, c store.Component, version int) store.Component {
	tb.Helper()
	old := fstest.MapFS{}
	err := fs.WalkDir(c.FS, c.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var n int
		if _, err := fmt.Sscanf(path.Base(p), "%d_", &n); err != nil || n >= version {
			return nil
		}
		b, err := fs.ReadFile(c.FS, p)
		old[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return store.Component{Name: c.Name, FS: old, Dir: c.Dir}
}

// Exec runs each of qs on db's writer, failing tb on the first error: a
// test's setup (rows to fill, ANALYZE) before it reads a plan.
func Exec(tb testing.TB, db *store.DB, qs ...string) {
	tb.Helper()
	for _, q := range qs {
		if _, err := db.Write().ExecContext(context.Background(), q); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
}

// SeqScans returns the tables PostgreSQL's plans for q with args read in
// full ("Seq Scan on t"): the custom plan for these values and the generic
// plan a prepared statement may switch to. It is for tests that keep a
// statement on its indexes however small the tables are. Fill and ANALYZE
// the tables first: the planner picks a scan of a small table whenever it
// costs less than the probes, which is what these tests catch before the
// tables grow.
func SeqScans(tb testing.TB, db *store.DB, q string, args ...any) []string {
	tb.Helper()
	var out []string
	for _, p := range Plans(tb, db, q, args...) {
		for _, line := range strings.Split(p.Text, "\n") {
			if _, rest, ok := strings.Cut(line, "Seq Scan on "); ok {
				out = append(out, p.Mode+": "+strings.Fields(rest)[0])
			}
		}
	}
	return out
}

// A Plan is PostgreSQL's EXPLAIN of a statement under one plan_cache_mode.
type Plan struct {
	Mode string // force_custom_plan or force_generic_plan
	Text string // the EXPLAIN lines, joined by newlines
}

// Plans returns PostgreSQL's plans for q with args: the custom plan for
// these values and the generic plan a prepared statement may switch to
// (of q prepared, then run with args).
func Plans(tb testing.TB, db *store.DB, q string, args ...any) []Plan {
	tb.Helper()
	if db.Dialect != store.Postgres {
		tb.Fatalf("Plans reads PostgreSQL plans; got %s", db.Dialect)
	}
	ctx := context.Background()
	conn, err := db.Read().Conn(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	var out []Plan
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		if _, err := conn.ExecContext(ctx, "SET plan_cache_mode = "+mode); err != nil {
			tb.Fatal(err)
		}
		// EXPLAIN of a statement with its arguments bound plans it for
		// those values whatever plan_cache_mode says; the generic plan is
		// the plan of a prepared statement run with them (PostgreSQL 16's
		// EXPLAIN (GENERIC_PLAN) would do without the PREPARE).
		explain, explainArgs := "EXPLAIN "+q, args
		if mode == "force_generic_plan" {
			if _, err := conn.ExecContext(ctx, "PREPARE storetest_plan AS "+q); err != nil {
				tb.Fatalf("PREPARE %s: %v", q, err)
			}
			params := make([]string, len(args))
			for i := range params {
				params[i] = fmt.Sprintf("$%d", i+1)
			}
			// EXECUTE takes no bind parameters: the driver writes the
			// arguments into the statement as literals.
			explain = "EXPLAIN EXECUTE storetest_plan(" + strings.Join(params, ", ") + ")"
			explainArgs = append([]any{pgx.QueryExecModeSimpleProtocol}, args...)
		}
		rows, err := conn.QueryContext(ctx, explain, explainArgs...)
		if err != nil {
			tb.Fatalf("%s (%s): %v", explain, q, err)
		}
		var lines []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				tb.Fatal(err)
			}
			lines = append(lines, line)
		}
		if err := rows.Err(); err != nil {
			tb.Fatal(err)
		}
		rows.Close()
		if mode == "force_generic_plan" {
			// Not DEALLOCATE ALL: the driver's own prepared statements
			// live on this connection too.
			if _, err := conn.ExecContext(ctx, "DEALLOCATE storetest_plan"); err != nil {
				tb.Fatal(err)
			}
		}
		out = append(out, Plan{mode, strings.Join(lines, "\n")})
	}
	if _, err := conn.ExecContext(ctx, "RESET plan_cache_mode"); err != nil {
		tb.Fatal(err)
	}
	return out
}
