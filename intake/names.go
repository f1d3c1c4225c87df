package intake

import (
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/opencarbon/opencarbon/store"
)

// Behavior and scenario names are stored once, in intake_names; event,
// usage and act rows carry their ids. A transaction interns the names of
// its events before it decides any of them (and outside any savepoint), so
// an id it holds is never one that a rolled-back savepoint created; on
// PostgreSQL new names are committed on their own first (internPG), so
// every id a transaction reads there is committed, and the service keeps
// them for the next transactions (names are never deleted).

// nameCache holds the committed names' ids (PostgreSQL), shared by the
// shard writers.
type nameCache struct {
	mu     sync.Mutex
	ids    map[string]int64
	nameOf map[int64]string
}

// fill copies the cached names into a new writer's maps.
func (c *nameCache) fill(names map[string]int64, nameOf map[int64]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	maps.Copy(names, c.ids)
	maps.Copy(nameOf, c.nameOf)
}

func (c *nameCache) add(name string, id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids == nil {
		c.ids, c.nameOf = map[string]int64{}, map[int64]string{}
	}
	c.ids[name], c.nameOf[id] = id, name
}

// intern makes sure every behavior of items, and the scenario of its
// methodology, has an id in w.names.
func (w *writer) intern(items []item) error {
	if w.tx.Dialect == store.Postgres {
		var names []string
		seen := map[string]bool{}
		add := func(n string) {
			if _, ok := w.names[n]; !ok && !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
		for _, it := range items {
			add(it.ev.Behavior)
			if m, ok := w.eng.Lookup(it.ev.Behavior, it.ev.OccurredAt); ok {
				add(m.Scenario())
			}
		}
		if err := w.internPG(names); err != nil {
			return err
		}
	}
	for _, it := range items {
		if err := w.internEvent(it.ev); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) internEvent(ev *Event) error {
	if _, err := w.nameID(ev.Behavior); err != nil {
		return err
	}
	if m, ok := w.eng.Lookup(ev.Behavior, ev.OccurredAt); ok {
		if _, err := w.nameID(m.Scenario()); err != nil {
			return err
		}
	}
	return nil
}

// internPG looks names up in one query. On PostgreSQL a new name is
// inserted and committed in a transaction of its own (the shard's
// transaction then reads it): inserted in the shard's transaction, it made
// every other shard interning the same name wait for that whole batch to
// commit (the first batches of a new database ran one shard at a time). A
// name committed by a batch that then fails is only an unused row.
func (w *writer) internPG(names []string) error {
	if len(names) == 0 {
		return nil
	}
	find := func() ([]string, error) {
		rows, err := w.tx.QueryContext(w.ctx, `SELECT id, name FROM intake_names WHERE name = ANY($1::text[])`, names)
		if err != nil {
			return nil, fmt.Errorf("intern: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var n string
			if err := rows.Scan(&id, &n); err != nil {
				return nil, fmt.Errorf("intern: %w", err)
			}
			w.names[n], w.nameOf[id] = id, n
			w.s.names.add(n, id)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("intern: %w", err)
		}
		var missing []string
		for _, n := range names {
			if _, ok := w.names[n]; !ok {
				missing = append(missing, n)
			}
		}
		return missing, nil
	}
	missing, err := find()
	if err != nil || len(missing) == 0 {
		return err
	}
	if _, err := w.s.db.Write().ExecContext(w.ctx, `INSERT INTO intake_names (name) SELECT * FROM unnest($1::text[]) ON CONFLICT (name) DO NOTHING`, missing); err != nil {
		return fmt.Errorf("intern: %w", err)
	}
	names = missing
	if missing, err = find(); err == nil && len(missing) > 0 {
		err = fmt.Errorf("intern %q: not found after insert", clip(missing[0], 64))
	}
	return err
}

// nameID returns the id of name, inserting it if it is new.
func (w *writer) nameID(name string) (int64, error) {
	if id, ok := w.names[name]; ok {
		return id, nil
	}
	if w.tx.Dialect == store.Postgres {
		if err := w.internPG([]string{name}); err != nil {
			return 0, err
		}
		return w.names[name], nil
	}
	const find = `SELECT id FROM intake_names WHERE name = $1`
	var id int64
	err := w.queryRow(find, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = w.queryRow(`INSERT INTO intake_names (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id`, name).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) { // a concurrent transaction inserted it first
			err = w.queryRow(find, name).Scan(&id)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("intern %q: %w", clip(name, 64), err)
	}
	w.names[name] = id
	w.nameOf[id] = name
	return id, nil
}

// id returns the id of a name interned by this transaction. A name that
// was not (a bug) fails the transaction in finish rather than storing a
// wrong id.
func (w *writer) id(name string) int64 {
	id, ok := w.names[name]
	if !ok && w.err == nil {
		w.err = fmt.Errorf("intake: name %q used before it was interned", clip(name, 64))
	}
	return id
}
