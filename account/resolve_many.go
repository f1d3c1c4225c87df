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

// ResolveManyTx is ResolveTx for a batch (a group commit): it answers
// keys[i] in out[i] with one query per 256 distinct people instead of one
// or two per key (and one more for people with no sub-account at all), and
// takes the same share locks on PostgreSQL (on every sub-account of the
// people named). The error is for database failures; consent refusals
// are per key.
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
	// query runs q, whose "?" stands for an IN list, over people with
	// scan. The lists have fixed sizes (store.ReadChunk), the last key
	// repeated to fill them, so the statements keep a few texts and stay
	// prepared.
	query := func(people []string, q string, scan func(*sql.Rows) error) error {
		for len(people) > 0 {
			take, size := store.ReadChunk(len(people))
			args := make([]any, size)
			for i := range args {
				args[i] = people[min(i, take-1)]
			}
			people = people[take:]
			rows, err := tx.QueryContext(ctx, strings.Replace(q, "?", store.Params(tx.Dialect, size), 1), args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				if err := scan(rows); err != nil {
					rows.Close()
					return err
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	}
	q := `SELECT a.person, a.id, s.partner, s.id, s.linked FROM accounts a JOIN subaccounts s ON s.account_id = a.id WHERE a.person IN (?)`
	if tx.Dialect == store.Postgres {
		q += ` FOR SHARE OF s`
	}
	err := query(people, q, func(rows *sql.Rows) error {
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
	err = query(rest, `SELECT person, id FROM accounts WHERE person IN (?)`, func(rows *sql.Rows) error {
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
