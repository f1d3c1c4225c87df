package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestBenchCommand drives `serve --demo`'s handler with `opencarbon bench`
// on both databases, single events and batches: the report counts what
// the server stored (every event sent, the credited ones credited once),
// and its bytes per credited event are positive, the events' own rows a
// part of all. Bad flags are refused before anything is sent.
func TestBenchCommand(t *testing.T) {
	ctx := context.Background()
	t.Setenv("OPENCARBON_SECRET_KEY", strings.Repeat("6", 64))
	const personKey = "bench-test-person-token-key-0123456789"
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			fs, cfg := newConfigFlags("serve", true)
			if err := parse(fs, []string{"--db", dsn, "--demo", "--person-token-key", personKey}); err != nil {
				t.Fatal(err)
			}
			a, err := openApp(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer a.close()
			if err := loadDemo(ctx, a); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(a.server.Handler())
			defer srv.Close()
			before := countRows(t, a.db, `SELECT COUNT(*) FROM intake_events`)
			var sent, credited int64
			for _, batch := range []int{1, 25} {
				var out bytes.Buffer
				c := benchConfig{url: srv.URL, partner: "eleme", secret: demoPartnerSecret(a.secretKey, "eleme"), personKey: personKey,
					behavior: "eleme.small_portion", db: dsn, clients: 4, events: 200, batch: batch, persons: 100, duration: time.Minute, spreadDays: 20}
				if err := bench(ctx, &out, c); err != nil {
					t.Fatalf("batch %d: %v", batch, err)
				}
				report := out.String()
				var reqs, failed, evs, cred, all, perAll, perOwn int64
				for _, line := range []struct {
					prefix string
					format string
					into   []any
				}{
					{"requests:", "requests: %d (%d failed)", []any{&reqs, &failed}},
					{"events:", "events: %d sent, %d credited", []any{&evs, &cred}},
					{"stored:", "stored: %d bytes more, %d bytes per credited event (all tables and indexes), of which %d in the events' own rows", []any{&all, &perAll, &perOwn}},
				} {
					i := strings.Index(report, line.prefix)
					if i < 0 {
						t.Fatalf("batch %d: no %q line in\n%s", batch, line.prefix, report)
					}
					if _, err := fmt.Sscanf(report[i:], line.format, line.into...); err != nil {
						t.Fatalf("batch %d: %q: %v in\n%s", batch, line.prefix, err, report)
					}
				}
				if failed != 0 || evs != 200 || reqs != int64(200/batch) || cred == 0 || perOwn <= 0 || perOwn > perAll {
					t.Fatalf("batch %d report:\n%s", batch, report)
				}
				sent += evs
				credited += cred
			}
			// Every event answered is stored except rejections that are
			// not remembered (none here), and no credit is doubled.
			if n := countRows(t, a.db, `SELECT COUNT(*) FROM intake_events`) - before; n != sent {
				t.Fatalf("%d event rows for %d events sent", n, sent)
			}
			if n := countRows(t, a.db, `SELECT COUNT(*) FROM intake_events e JOIN ledger_tx t ON t.id = e.id WHERE e.event_id LIKE 'b%' AND t.kind = 'credit'`); n != credited {
				t.Fatalf("%d ledger credits; the reports say %d", n, credited)
			}
		})
	}
	for _, args := range [][]string{
		{"--url", "http://127.0.0.1:1"},
		{"--secret", "s", "--url", "http://example.com"},
		{"--secret", "s", "--url", "http://127.0.0.1:1", "--behavior", "nobody.knows"},
		{"--secret", "s", "--url", "http://127.0.0.1:1", "--batch", "1001"},
		{"--secret", "s", "--url", "http://127.0.0.1:1", "--clients", "0"},
	} {
		if err := benchCmd(ctx, args); err == nil {
			t.Errorf("bench %v: no error", args)
		}
	}
}

func countRows(t *testing.T, db *store.DB, q string) int64 {
	t.Helper()
	var n int64
	if err := db.Read().QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
