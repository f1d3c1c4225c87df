package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Set-based reads and writes whose statement texts do not depend on the
// number of rows, so that they are parsed once (SQLite: Tx keeps repeated
// statements prepared; PostgreSQL: pgx caches them per connection).

// BulkRead is a read over a set of accounts whose text does not depend on
// how many accounts it reads, so it is parsed once: SQLite keeps it
// prepared on the writer (Tx prepares statements it sees again and
// again), pgx on each connection. The accounts travel as one parameter: on
// SQLite a JSON array read with json_each (?1), on PostgreSQL an array
// ($1).
type BulkRead struct{ SQLite, Postgres string }

// Query runs q over accs in tx and calls row for each result row.
func (q BulkRead) Query(ctx context.Context, tx *Tx, accs []int64, row func(scan func(...any) error) error) error {
	return q.QueryOn(ctx, tx, tx.Dialect, accs, row)
}

// Queryer is what QueryOn reads through: a *Tx, the read pool (*sql.DB),
// a *sql.Tx.
type Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// QueryOn is Query through db, a reader of dialect d that need not be a
// write transaction (the read pool, to plan work off the writer).
func (q BulkRead) QueryOn(ctx context.Context, db Queryer, d Dialect, accs []int64, row func(scan func(...any) error) error) error {
	text, arg := q.Postgres, any(accs)
	if d == SQLite {
		b := make([]byte, 0, 2+len(accs)*8)
		b = append(b, '[')
		for i, a := range accs {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, a, 10)
		}
		text, arg = q.SQLite, string(append(b, ']'))
	}
	rows, err := db.QueryContext(ctx, text, arg)
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

// BulkWrite is one set-based write. On PostgreSQL it is one statement over
// arrays (pg, $1…$k: one array per column). On SQLite it is a multi-row
// VALUES statement (head, rows of k parameters, tail) cut into chunks of
// the fixed sizes in liteChunks, so a batch of any size runs a few
// statements of at most len(liteChunks) texts, each parsed and prepared
// once (reading rows out of one JSON parameter with json_each measured
// about a third dearer per message than binding them).
type BulkWrite struct {
	pg   string
	lite [len(liteChunks)]string
}

// liteChunks are the row counts of SQLite's bulk statements, largest first.
var liteChunks = [...]int{256, 64, 16, 4, 1}

func NewBulkWrite(head string, k int, tail, pg string) BulkWrite {
	w := BulkWrite{pg: pg}
	for i, n := range liteChunks {
		var sb strings.Builder
		sb.WriteString(head)
		WriteRows(&sb, SQLite, n, k)
		sb.WriteString(tail)
		w.lite[i] = sb.String()
	}
	return w
}

// Run writes the rows of cols (equally long []int64 or []string, one per
// column); if the statement returns rows, row is called for each.
func (w BulkWrite) Run(ctx context.Context, tx *Tx, cols []any, row func(scan func(...any) error) error) error {
	if tx.Dialect != SQLite {
		return w.exec(ctx, tx, w.pg, cols, row)
	}
	n := colLen(cols[0])
	args := make([]any, 0, min(n, liteChunks[0])*len(cols))
	for at := 0; at < n; {
		i := chunkIndex(n - at)
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

func (w BulkWrite) exec(ctx context.Context, tx *Tx, q string, args []any, row func(scan func(...any) error) error) error {
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

// chunkIndex returns the index in liteChunks of the largest size that is
// at most n (n > 0).
func chunkIndex(n int) int {
	i := 0
	for liteChunks[i] > n {
		i++
	}
	return i
}

// WriteChunk returns how many of n remaining rows (n > 0) the next
// multi-row write statement should take: the largest of 256, 64, 16, 4 and
// 1 that fits. A batch of any size is then written with statements of at
// most five texts per kind, which stay prepared (on SQLite Tx keeps the
// texts it sees again and again prepared, and its cache is bounded; pgx
// caches per text too). A text per row count, as a group commit of 1 to
// 64 events produced, was parsed again on most commits.
func WriteChunk(n int) int { return liteChunks[chunkIndex(n)] }

// ReadChunk is WriteChunk for a lookup over a set of n remaining keys
// (n > 0): it takes up to 256 of them, and the statement is built for
// size keys, the smallest power of two that holds them (nine texts per
// kind); the caller repeats the last key to fill the list, which an IN
// list or a join ignores. Powers of two waste at most half of a lookup;
// WriteChunk's coarser sizes padded 80 keys to 256.
func ReadChunk(n int) (take, size int) {
	take = min(n, liteChunks[0])
	size = 1
	for size < take {
		size *= 2
	}
	return take, size
}

func colLen(col any) int {
	switch c := col.(type) {
	case []int64:
		return len(c)
	case []string:
		return len(c)
	}
	panic(fmt.Sprintf("store: bulk column of type %T", col))
}

// textKey names a statement text built by ValuesSQL or Params.
type textKey struct {
	d            Dialect
	head, tail   string
	rows, cols   int
	placeholders bool
}

// texts keeps the texts of ValuesSQL and Params: a group commit builds
// the same few dozen again and again (rebuilding them, ~50 KB each, was
// 4 % of the SQLite writer's CPU).
var texts sync.Map // textKey → string

// maxKeptRows bounds the row counts whose texts are kept (WriteChunk and
// ReadChunk sizes are at most 256).
const maxKeptRows = 256

// ValuesSQL returns head, rows tuples of cols parameters (WriteRows) and
// tail, separated by spaces. head and tail must be constants: the text is
// kept for each distinct call.
func ValuesSQL(d Dialect, head string, rows, cols int, tail string) string {
	k := textKey{d: d, head: head, tail: tail, rows: rows, cols: cols}
	if s, ok := texts.Load(k); ok {
		return s.(string)
	}
	var sb strings.Builder
	sb.WriteString(head)
	sb.WriteByte(' ')
	WriteRows(&sb, d, rows, cols)
	if tail != "" {
		sb.WriteByte(' ')
		sb.WriteString(tail)
	}
	s := sb.String()
	if rows <= maxKeptRows {
		texts.Store(k, s)
	}
	return s
}

// Params returns n parameters for an IN list: "?, ?, …" on SQLite (see
// WriteRows), "$1, $2, …" on PostgreSQL.
func Params(d Dialect, n int) string {
	k := textKey{d: d, rows: n, placeholders: true}
	if s, ok := texts.Load(k); ok {
		return s.(string)
	}
	var sb strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			sb.WriteString(", ")
		}
		if d == SQLite {
			sb.WriteByte('?')
		} else {
			sb.WriteByte('$')
			sb.WriteString(strconv.Itoa(i))
		}
	}
	s := sb.String()
	if n <= maxKeptRows {
		texts.Store(k, s)
	}
	return s
}

// WriteRows writes rows tuples of cols parameters, "(?, ?), (?, ?)", to
// sb: anonymous "?" on SQLite (numbered names are looked up linearly
// there, quadratic in a statement of thousands of parameters), $1, $2, …
// on PostgreSQL.
func WriteRows(sb *strings.Builder, d Dialect, rows, cols int) {
	n := 0
	for r := range rows {
		if r > 0 {
			sb.WriteString(", ")
		}
		sb.WriteByte('(')
		for c := range cols {
			if c > 0 {
				sb.WriteString(", ")
			}
			if n++; d == SQLite {
				sb.WriteByte('?')
			} else {
				sb.WriteByte('$')
				sb.WriteString(strconv.Itoa(n))
			}
		}
		sb.WriteByte(')')
	}
}
