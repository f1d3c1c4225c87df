-- A transaction's ref becomes optional: the intake stores its credits
-- without one (the event row, which has the transaction's id, is their
-- idempotency key), which saves the unique index entry and ~20 bytes of
-- row per credited event. Refs that are set stay unique. SQLite cannot
-- drop NOT NULL, so the table is rebuilt.
CREATE TABLE ledger_tx_v3 (
  id INTEGER PRIMARY KEY,
  ref TEXT,
  kind TEXT NOT NULL,
  parent BIGINT NOT NULL,
  sub BIGINT NOT NULL,
  calc_id TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  debt BIGINT NOT NULL DEFAULT 0,
  orig BIGINT,
  note TEXT
);
INSERT INTO ledger_tx_v3 (id, ref, kind, parent, sub, calc_id, created_at, debt, orig, note)
  SELECT id, ref, kind, parent, sub, calc_id, created_at, debt, orig, note FROM ledger_tx;
DROP TABLE ledger_tx;
ALTER TABLE ledger_tx_v3 RENAME TO ledger_tx;
CREATE UNIQUE INDEX ledger_tx_ref ON ledger_tx (ref) WHERE ref IS NOT NULL;
CREATE INDEX ledger_tx_parent ON ledger_tx (parent, id);
CREATE UNIQUE INDEX ledger_tx_orig ON ledger_tx (orig) WHERE orig IS NOT NULL;
