package store

import (
	"strings"
	"testing"
)

func TestRenumber(t *testing.T) {
	for _, tc := range []struct {
		q    string
		by   int
		want string
	}{
		{"INSERT INTO t VALUES ($1, $2)", 3, "INSERT INTO t VALUES ($4, $5)"},
		{"SELECT * FROM unnest($1::bigint[], $10::text[])", 9, "SELECT * FROM unnest($10::bigint[], $19::text[])"},
		{"VALUES ($1, '$1 stays', \"col$2\", $2)", 1, "VALUES ($2, '$1 stays', \"col$2\", $3)"},
		{"VALUES ('it''s $1', $1)", 2, "VALUES ('it''s $1', $3)"},
		{"a $ b $x $", 5, "a $ b $x $"},
		{"VALUES ($1, 'unterminated $2", 1, "VALUES ($2, 'unterminated $2"},
		{"$1$2", 1, "$2$3"},
		{"$007 $99999999999999999999", 1, "$8 $99999999999999999999"},
		{"", 4, ""},
	} {
		var sb strings.Builder
		renumber(&sb, tc.q, tc.by)
		if got := sb.String(); got != tc.want {
			t.Errorf("renumber(%q, %d) = %q, want %q", tc.q, tc.by, got, tc.want)
		}
	}
}

func TestCombine(t *testing.T) {
	q, args := combine([]held{
		{"INSERT INTO a (x, y) VALUES ($1, $2)", []any{1, 2}, "a"},
		{"UPDATE b SET z = $1", []any{3}, "b"},
		{"DELETE FROM c WHERE k = $1 OR k = $2", []any{4, 5}, "c"},
	})
	want := "WITH w0 AS (INSERT INTO a (x, y) VALUES ($1, $2)), w1 AS (UPDATE b SET z = $3), w2 AS (DELETE FROM c WHERE k = $4 OR k = $5) SELECT 1"
	if q != want || len(args) != 5 || args[2] != 3 || args[4] != 5 {
		t.Fatalf("combine = %q %v", q, args)
	}
}

func TestHoldable(t *testing.T) {
	for _, tc := range []struct {
		q, table string
		ok       bool
	}{
		{"INSERT INTO outbox (topic) SELECT t FROM unnest($1::text[]) AS u(t)", "outbox", true},
		{"insert into Calc_Log(shard) values ($1)", "calc_log", true},
		{"UPDATE kv SET v = v + $1 WHERE k = $2", "kv", true},
		{"DELETE FROM kv WHERE k = $1", "kv", true},
		{"INSERT INTO kv (k, v, note) VALUES ($1, $2, 'it''s')", "kv", true},
		{"WITH x AS (SELECT 1) INSERT INTO kv SELECT * FROM x", "", false},
		{"SELECT pg_advisory_xact_lock($1)", "", false},
		{"INSERT INTO kv VALUES ($1) -- it's", "", false},
		{"INSERT INTO kv VALUES ($1) /* c */", "", false},
		{`INSERT INTO kv VALUES (E'a\\'' $1')`, "", false},
		{"INSERT INTO kv VALUES ($$ $1 $$)", "", false},
		{"INSERT INTO kv VALUES ($tag$x$tag$)", "", false},
		{"UPDATE ONLY kv SET v = $1", "", false},
		{"INSERT INTO", "", false},
	} {
		table, ok := holdable(tc.q)
		if table != tc.table || ok != tc.ok {
			t.Errorf("holdable(%q) = %q %v, want %q %v", tc.q, table, ok, tc.table, tc.ok)
		}
	}
}

// FuzzRenumber: renumbering changes nothing but the digits of parameters,
// and by 0 nothing at all.
func FuzzRenumber(f *testing.F) {
	for _, s := range []string{"VALUES ($1, $2)", "'$1' \"$2\" $3", "$", "$$1", "'", "$99999999999999999999"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, q string, by int) {
		if by < 0 || by > 1<<20 {
			return
		}
		var same, moved strings.Builder
		renumber(&same, q, 0)
		renumber(&moved, q, by)
		digitless := func(s string) string {
			return strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' {
					return -1
				}
				return r
			}, s)
		}
		if same.String() != q {
			t.Fatalf("renumber(%q, 0) = %q", q, same.String())
		}
		if digitless(moved.String()) != digitless(q) {
			t.Fatalf("renumber(%q, %d) = %q changed more than digits", q, by, moved.String())
		}
	})
}
