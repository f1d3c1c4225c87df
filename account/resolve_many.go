package account

import (
	"context"
	"fmt"

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
// keys[i] in out[i] with two queries per 256 distinct people instead of one
// or two per key, and takes the same share locks on PostgreSQL (on every
// sub-account of the people named). The error is for database failures;
// consent refusals are per key.
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
	// Lists of fixed sizes (store.ReadChunk), the last key repeated to
	// fill them, so the statements keep a few texts and stay prepared.
	for len(people) > 0 {
		take, size := store.ReadChunk(len(people))
		args := make([]any, size)
		for i := range args {
			args[i] = people[min(i, take-1)]
		}
		people = people[take:]
		rows, err := tx.QueryContext(ctx, `SELECT person, id FROM accounts WHERE person IN (`+store.Params(tx.Dialect, size)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("resolve accounts: %w", err)
		}
		var ids []any
		for rows.Next() {
			var p string
			var id int64
			if err := rows.Scan(&p, &id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("resolve accounts: %w", err)
			}
			accountOf[p] = id
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("resolve accounts: %w", err)
		}
		if len(ids) == 0 {
			continue
		}
		_, size = store.ReadChunk(len(ids))
		for len(ids) < size {
			ids = append(ids, ids[len(ids)-1])
		}
		q := `SELECT account_id, partner, id, linked FROM subaccounts WHERE account_id IN (` + store.Params(tx.Dialect, size) + `)`
		if tx.Dialect == store.Postgres {
			q += ` FOR SHARE`
		}
		rows, err = tx.QueryContext(ctx, q, ids...)
		if err != nil {
			return nil, fmt.Errorf("resolve sub-accounts: %w", err)
		}
		for rows.Next() {
			var acct, id int64
			var partnerID string
			var linked int
			if err := rows.Scan(&acct, &partnerID, &id, &linked); err != nil {
				rows.Close()
				return nil, fmt.Errorf("resolve sub-accounts: %w", err)
			}
			if subs[acct] == nil {
				subs[acct] = map[string]sub{}
			}
			subs[acct][partnerID] = sub{id: id, linked: linked == 1}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("resolve sub-accounts: %w", err)
		}
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
