-- The unique index on refs holds only the refs that are set, as SQLite's
-- does (migration 3): a PostgreSQL B-tree keeps an entry for every NULL
-- too, and the intake's credits (most of the ledger) have none, about 10
-- bytes an event. Inserts that may collide say ON CONFLICT (ref) WHERE ref
-- IS NOT NULL, which both indexes satisfy.
CREATE UNIQUE INDEX ledger_tx_ref ON ledger_tx (ref) WHERE ref IS NOT NULL;
ALTER TABLE ledger_tx DROP CONSTRAINT ledger_tx_ref_key;
