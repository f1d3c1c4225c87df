package honor

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/opencarbon/opencarbon/store"
)

// bulkQ is a read over a set of accounts whose text does not depend on
// how many accounts it reads, so it is parsed once: SQLite caches it
// prepared on the writer (store.Tx prepares statements it sees again and
// again), pgx on each connection. The accounts travel as one parameter: on
// SQLite a JSON array read with json_each (?1), on PostgreSQL an array
// ($1).
type bulkQ struct{ lite, pg string }

// query runs q over accs and calls row for each result row.
func (q bulkQ) query(ctx context.Context, tx *store.Tx, accs []int64, row func(scan func(...any) error) error) error {
	text, arg := q.pg, any(accs)
	if tx.Dialect == store.SQLite {
		b := make([]byte, 0, 2+len(accs)*8)
		b = append(b, '[')
		for i, a := range accs {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, a, 10)
		}
		text, arg = q.lite, string(append(b, ']'))
	}
	rows, err := tx.QueryContext(ctx, text, arg)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// bulkW is one set-based write. On PostgreSQL it is one statement over
// arrays (pg, $1…$k: one array per column). On SQLite it is a multi-row
// VALUES statement (head, rows of k parameters, tail) cut into chunks of
// the fixed sizes in liteChunks, so a batch of any size runs a few
// statements of at most len(liteChunks) texts, each parsed and prepared
// once (reading rows out of one JSON parameter with json_each measured
// about a third dearer per message than binding them).
type bulkW struct {
	pg   string
	lite [len(liteChunks)]string
}

// liteChunks are the row counts of SQLite's bulk statements, largest first.
var liteChunks = [...]int{256, 64, 16, 4, 1}

func newBulkW(head string, k int, tail, pg string) bulkW {
	w := bulkW{pg: pg}
	for i, n := range liteChunks {
		var sb strings.Builder
		sb.WriteString(head)
		for r := range n {
			if r > 0 {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			for j := range k {
				if j > 0 {
					sb.WriteString(", ")
				}
				sb.WriteByte('?')
			}
			sb.WriteByte(')')
		}
		sb.WriteString(tail)
		w.lite[i] = sb.String()
	}
	return w
}

// run writes the rows of cols (equally long []int64 or []string, one per
// column); if the statement returns rows, row is called for each.
func (w bulkW) run(ctx context.Context, tx *store.Tx, cols []any, row func(scan func(...any) error) error) error {
	if tx.Dialect != store.SQLite {
		return w.exec(ctx, tx, w.pg, cols, row)
	}
	n := colLen(cols[0])
	args := make([]any, 0, min(n, liteChunks[0])*len(cols))
	for at := 0; at < n; {
		i := 0
		for liteChunks[i] > n-at {
			i++
		}
		args = args[:0]
		for r := at; r < at+liteChunks[i]; r++ {
			for _, col := range cols {
				switch c := col.(type) {
				case []int64:
					args = append(args, c[r])
				case []string:
					args = append(args, c[r])
				}
			}
		}
		if err := w.exec(ctx, tx, w.lite[i], args, row); err != nil {
			return err
		}
		at += liteChunks[i]
	}
	return nil
}

func (w bulkW) exec(ctx context.Context, tx *store.Tx, q string, args []any, row func(scan func(...any) error) error) error {
	if row == nil {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

func colLen(col any) int {
	switch c := col.(type) {
	case []int64:
		return len(c)
	case []string:
		return len(c)
	}
	panic(fmt.Sprintf("honor: bulk column of type %T", col))
}

// The statements of the medal consumer.
var (
	qInsertCredits = newBulkW(`INSERT INTO honor_credits (ref, account_id, mg, day, scenario, partner) VALUES `, 6,
		` ON CONFLICT (ref) DO NOTHING RETURNING ref`,
		`INSERT INTO honor_credits (ref, account_id, mg, day, scenario, partner)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[])
		ON CONFLICT (ref) DO NOTHING RETURNING ref`)
	qUpsertStats = newBulkW(`INSERT INTO honor_stats (account_id, mg, credits, updated_at) VALUES `, 4,
		` ON CONFLICT (account_id) DO UPDATE SET mg = honor_stats.mg + excluded.mg, credits = honor_stats.credits + excluded.credits,
		updated_at = excluded.updated_at`,
		`INSERT INTO honor_stats (account_id, mg, credits, updated_at)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[])
		ON CONFLICT (account_id) DO UPDATE SET mg = honor_stats.mg + excluded.mg, credits = honor_stats.credits + excluded.credits,
		updated_at = excluded.updated_at`)
	qUpsertCounts = newBulkW(`INSERT INTO honor_counts (account_id, kind, name, n) VALUES `, 4,
		` ON CONFLICT (account_id, kind, name) DO UPDATE SET n = honor_counts.n + excluded.n`,
		`INSERT INTO honor_counts (account_id, kind, name, n)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[])
		ON CONFLICT (account_id, kind, name) DO UPDATE SET n = honor_counts.n + excluded.n`)
	qUpsertDays = newBulkW(`INSERT INTO honor_days (account_id, day, n) VALUES `, 3,
		` ON CONFLICT (account_id, day) DO UPDATE SET n = honor_days.n + excluded.n`,
		`INSERT INTO honor_days (account_id, day, n)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])
		ON CONFLICT (account_id, day) DO UPDATE SET n = honor_days.n + excluded.n`)
	qUpdateStreaks = newBulkW(`UPDATE honor_stats SET streak = v.column2, best_streak = v.column3 FROM (VALUES `, 3,
		`) AS v WHERE honor_stats.account_id = v.column1`,
		`UPDATE honor_stats SET streak = u.s, best_streak = u.b
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(a, s, b) WHERE honor_stats.account_id = u.a`)
	qInsertMedals = newBulkW(`INSERT INTO honor_medals (account_id, medal_id, awarded_at) VALUES `, 3,
		` ON CONFLICT (account_id, medal_id) DO NOTHING RETURNING account_id, medal_id`,
		`INSERT INTO honor_medals (account_id, medal_id, awarded_at)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[])
		ON CONFLICT (account_id, medal_id) DO NOTHING RETURNING account_id, medal_id`)
	// The reads of awardTx, over a set of accounts.
	qReadStats = bulkQ{
		lite: `SELECT account_id, mg, credits, streak, best_streak FROM honor_stats WHERE account_id IN (SELECT j.value FROM json_each(?1) AS j)`,
		pg:   `SELECT account_id, mg, credits, streak, best_streak FROM honor_stats WHERE account_id = ANY($1::bigint[])`,
	}
	qReadCounts = bulkQ{
		lite: `SELECT account_id, kind, name, n FROM honor_counts WHERE account_id IN (SELECT j.value FROM json_each(?1) AS j) AND n > 0`,
		pg:   `SELECT account_id, kind, name, n FROM honor_counts WHERE account_id = ANY($1::bigint[]) AND n > 0`,
	}
	qReadMedals = bulkQ{
		lite: `SELECT account_id, medal_id FROM honor_medals WHERE account_id IN (SELECT j.value FROM json_each(?1) AS j)`,
		pg:   `SELECT account_id, medal_id FROM honor_medals WHERE account_id = ANY($1::bigint[])`,
	}
	qReadDays = bulkQ{
		lite: `SELECT account_id, day FROM honor_days WHERE account_id IN (SELECT j.value FROM json_each(?1) AS j) AND n > 0 ORDER BY account_id, day DESC`,
		pg:   `SELECT account_id, day FROM honor_days WHERE account_id = ANY($1::bigint[]) AND n > 0 ORDER BY account_id, day DESC`,
	}
)
