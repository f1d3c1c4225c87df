package account

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/opencarbon/opencarbon/store"
)

// Key names one credit target to resolve: a person and the reporting
// partner.
type Key struct {
	Person  string
	Partner string
}

// Target is the answer for one Key: the parent and sub-account ids, or Err
// (ENoConsent or EPartnerNotLinked, as ResolveTx returns).
type Target struct {
	AccountID int64
	SubID     int64
	Err       error
}

// The PostgreSQL reads of ResolveManyTx: people's accounts and their
// sub-accounts (share-locked), and the accounts alone.
const (
	resolveSubsPG = `SELECT u.p, a.id, s.partner, s.id, s.linked FROM unnest($1::text[]) AS u(p)
		CROSS JOIN LATERAL (SELECT id FROM accounts WHERE person = u.p OFFSET 0) a
		CROSS JOIN LATERAL (SELECT id, partner, linked FROM subaccounts WHERE account_id = a.id FOR SHARE) s`
	resolveAccountsPG = `SELECT u.p, a.id FROM unnest($1::text[]) AS u(p) CROSS JOIN LATERAL (SELECT id FROM accounts WHERE person = u.p OFFSET 0) a`
)

// ResolveManyTx is ResolveTx for a batch (a group commit): it answers
// keys[i] in out[i] with one query (on SQLite one per 256 distinct
// people) instead of one or two per key, and one more for people with no
// sub-account at all. It takes the same share locks on PostgreSQL (on
// every sub-account of the people named). The error is for database
// failures; consent refusals are per key.
func ResolveManyTx(ctx context.Context, tx *store.Tx, keys []Key) ([]Target, error) {
	people := make([]string, 0, len(keys))
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if !seen[k.Person] {
			seen[k.Person] = true
			people = append(people, k.Person)
		}
	}
	accountOf := make(map[string]int64, len(people))
	type sub struct {
		id     int64
		linked bool
	}
	subs := map[int64]map[string]sub{}
	// query runs q over people with scan. On SQLite, "?" in q stands for
	// an IN list; the lists have fixed sizes (store.ReadChunk), the last
	// key repeated to fill them, so the statements keep a few texts and
	// stay prepared. On PostgreSQL, pq runs once with all of them in $1:
	// one index probe per person (the LATERAL subqueries with OFFSET 0 or
	// a locking clause are not flattened), where an IN list over a join
	// was planned as a hash join over every sub-account.
	query := func(people []string, q, pq string, scan func(*sql.Rows) error) error {
		if len(people) == 0 {
			return nil
		}
		each := func(rows *sql.Rows, err error) error {
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				if err := scan(rows); err != nil {
					return err
				}
			}
			return rows.Err()
		}
		if tx.Dialect == store.Postgres {
			return each(tx.QueryContext(ctx, pq, people))
		}
		for len(people) > 0 {
			take, size := store.ReadChunk(len(people))
			args := make([]any, size)
			for i := range args {
				args[i] = people[min(i, take-1)]
			}
			people = people[take:]
			if err := each(tx.QueryContext(ctx, strings.Replace(q, "?", store.Params(tx.Dialect, size), 1), args...)); err != nil {
				return err
			}
		}
		return nil
	}
	err := query(people, `SELECT a.person, a.id, s.partner, s.id, s.linked FROM accounts a JOIN subaccounts s ON s.account_id = a.id WHERE a.person IN (?)`,
		resolveSubsPG,
		func(rows *sql.Rows) error {
			var person, partnerID string
			var acct, id int64
			var linked int
			if err := rows.Scan(&person, &acct, &partnerID, &id, &linked); err != nil {
				return err
			}
			accountOf[person] = acct
			if subs[acct] == nil {
				subs[acct] = map[string]sub{}
			}
			subs[acct][partnerID] = sub{id: id, linked: linked == 1}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("resolve accounts: %w", err)
	}
	// People the join did not find: no account, or one with no
	// sub-account yet.
	var rest []string
	for _, p := range people {
		if _, ok := accountOf[p]; !ok {
			rest = append(rest, p)
		}
	}
	err = query(rest, `SELECT person, id FROM accounts WHERE person IN (?)`,
		resolveAccountsPG,
		func(rows *sql.Rows) error {
			var person string
			var id int64
			if err := rows.Scan(&person, &id); err != nil {
				return err
			}
			accountOf[person] = id
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("resolve accounts: %w", err)
	}
	out := make([]Target, len(keys))
	for i, k := range keys {
		acct, ok := accountOf[k.Person]
		if !ok {
			out[i].Err = noConsent()
			continue
		}
		s, ok := subs[acct][k.Partner]
		if !ok || !s.linked {
			out[i].Err = notLinked(k.Partner)
			continue
		}
		out[i] = Target{AccountID: acct, SubID: s.id}
	}
	return out, nil
}
