package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// held is a write waiting in a PostgreSQL transaction (ExecLater).
type held struct {
	q     string
	args  []any
	table string
}

// ExecLater runs a write whose result the caller does not need. On
// PostgreSQL it is held and sent before the transaction's next statement
// or its commit, the writes held together as one statement of
// data-modifying WITH queries: one round trip instead of one each, which
// a group commit's dozen writes otherwise spend waiting on. Its error then
// comes from that next statement or from the commit, and fails the
// transaction. args must not change until then.
//
// The writes held together run on one snapshot and in no set order, so
// a write to a table that a held write already writes sends the held ones
// first, and so does any statement that is not a plain INSERT, UPDATE or
// DELETE (q is then run at once): one with a WITH of its own, a comment, a
// backslash or a '$' other than its parameters $1 … $len(args). Held
// writes must not depend on each other's effects through triggers or
// foreign keys. A held write that fails fails the transaction, not a
// savepoint: inside a savepoint meant to recover one failure (the
// intake's event-by-event path), write with ExecContext. On SQLite, with
// no round trips to save, q runs at once.
func (tx *Tx) ExecLater(ctx context.Context, q string, args ...any) error {
	if tx.Dialect != Postgres {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}
	table, ok := holdable(q)
	if !ok {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}
	for _, h := range tx.held {
		if h.table == table {
			if err := tx.flush(ctx); err != nil {
				return err
			}
			break
		}
	}
	if tx.heldErr != nil {
		return tx.heldErr
	}
	tx.held = append(tx.held, held{q, args, table})
	return nil
}

// holdable returns the table q writes if q may be held: a plain INSERT
// INTO, UPDATE or DELETE FROM whose only '$' are parameters, without
// comments or backslashes (which renumber does not parse).
func holdable(q string) (string, bool) {
	if strings.Contains(q, "--") || strings.Contains(q, "/*") || strings.Contains(q, `\`) {
		return "", false
	}
	for i := 0; i < len(q); i++ {
		if q[i] == '$' && (i+1 == len(q) || q[i+1] < '0' || q[i+1] > '9') {
			return "", false
		}
	}
	f := strings.Fields(q)
	var name string
	switch {
	case len(f) >= 3 && strings.EqualFold(f[0], "INSERT") && strings.EqualFold(f[1], "INTO"):
		name = f[2]
	case len(f) >= 2 && strings.EqualFold(f[0], "UPDATE"):
		name = f[1]
	case len(f) >= 3 && strings.EqualFold(f[0], "DELETE") && strings.EqualFold(f[1], "FROM"):
		name = f[2]
	default:
		return "", false
	}
	if i := strings.IndexByte(name, '('); i >= 0 {
		name = name[:i]
	}
	if name == "" || strings.EqualFold(name, "ONLY") {
		return "", false
	}
	return strings.ToLower(name), true
}

// flush sends the held writes. An error is kept: PostgreSQL has aborted
// the transaction, and the commit reports it.
func (tx *Tx) flush(ctx context.Context) error {
	if tx.heldErr != nil || len(tx.held) == 0 {
		return tx.heldErr
	}
	hs := tx.held
	tx.held = nil
	q, args := hs[0].q, hs[0].args
	if len(hs) > 1 {
		q, args = combine(hs)
	}
	if _, err := tx.Tx.ExecContext(ctx, q, args...); err != nil {
		tx.heldErr = fmt.Errorf("held writes: %w", err)
	}
	return tx.heldErr
}

// combine writes hs as one statement, "WITH w0 AS (…), w1 AS (…) SELECT
// 1", each write's parameters renumbered after the previous ones'.
func combine(hs []held) (string, []any) {
	var sb strings.Builder
	var args []any
	sb.WriteString("WITH ")
	for i, h := range hs {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("w")
		sb.WriteString(strconv.Itoa(i))
		sb.WriteString(" AS (")
		renumber(&sb, h.q, len(args))
		sb.WriteString(")")
		args = append(args, h.args...)
	}
	sb.WriteString(" SELECT 1")
	return sb.String(), args
}

// renumber writes q with each parameter $n as $(n+by), leaving quoted
// strings and identifiers alone. q is holdable (no comments, backslashes
// or dollar quotes).
func renumber(sb *strings.Builder, q string, by int) {
	if by == 0 {
		sb.WriteString(q)
		return
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				sb.WriteString(q[i:])
				return
			}
			sb.WriteString(q[i : i+j+2])
			i += j + 1
		case c == '$' && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if n, err := strconv.Atoi(q[i+1 : j]); err == nil {
				sb.WriteByte('$')
				sb.WriteString(strconv.Itoa(n + by))
			} else {
				sb.WriteString(q[i:j]) // out of range: PostgreSQL refuses it
			}
			i = j - 1
		default:
			sb.WriteByte(c)
		}
	}
}
