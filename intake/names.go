package intake

import (
	"database/sql"
	"errors"
	"fmt"
)

// Behavior and scenario names are stored once, in intake_names; event,
// usage and act rows carry their ids. A transaction interns the names of
// its events before it decides any of them (and outside any savepoint), so
// an id it holds is never one that a rolled-back savepoint created.

// intern makes sure every behavior of items, and the scenario of its
// methodology, has an id in w.names.
func (w *writer) intern(items []item) error {
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

// nameID returns the id of name, inserting it if it is new.
func (w *writer) nameID(name string) (int64, error) {
	if id, ok := w.names[name]; ok {
		return id, nil
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
