-- One row per ledger transaction. ref is the caller's idempotency key;
-- orig links a reversal to its credit/grant and a refund to its spend (at
-- most one each); debt is the debt repaid (credit, grant, refund) or incurred
-- (reversal); note holds a reversal reason or a spend kind.
CREATE TABLE ledger_tx (
  id INTEGER PRIMARY KEY,
  ref TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  parent BIGINT NOT NULL,
  sub BIGINT NOT NULL,
  calc_id TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  debt BIGINT NOT NULL DEFAULT 0,
  orig BIGINT,
  note TEXT
);
CREATE INDEX ledger_tx_parent ON ledger_tx (parent, created_at, id);
CREATE UNIQUE INDEX ledger_tx_orig ON ledger_tx (orig) WHERE orig IS NOT NULL;
-- Immutable postings: amount moves from src to dst. Positive account ids are
-- sub-accounts, negative ids are the synthetic issuer-side accounts.
CREATE TABLE ledger_postings (
  tx_id BIGINT NOT NULL,
  n INTEGER NOT NULL,
  src BIGINT NOT NULL,
  dst BIGINT NOT NULL,
  asset TEXT NOT NULL CHECK (asset IN ('mg', 'points')),
  amount BIGINT NOT NULL CHECK (amount > 0),
  PRIMARY KEY (tx_id, n)
) WITHOUT ROWID;
-- Balance cache: one row per sub-account and one per parent (sub = 0) that
-- is the exact rollup of its sub-accounts.
CREATE TABLE ledger_balances (
  parent BIGINT NOT NULL,
  sub BIGINT NOT NULL,
  mg BIGINT NOT NULL,
  points BIGINT NOT NULL CHECK (points >= 0),
  debt BIGINT NOT NULL CHECK (debt >= 0),
  PRIMARY KEY (parent, sub)
) WITHOUT ROWID;
-- Point lots: points of one sub-account that expire together.
CREATE TABLE ledger_lots (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  parent BIGINT NOT NULL,
  sub BIGINT NOT NULL,
  credited_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  remaining BIGINT NOT NULL CHECK (remaining >= 0),
  notified INTEGER NOT NULL DEFAULT 0,
  UNIQUE (sub, expires_at)
);
CREATE INDEX ledger_lots_parent ON ledger_lots (parent, credited_at, id);
CREATE INDEX ledger_lots_expiry ON ledger_lots (expires_at);
-- Which lots a spend took its points from, so a refund restores them.
CREATE TABLE ledger_lot_spends (
  tx_id BIGINT NOT NULL,
  sub BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  credited_at BIGINT NOT NULL,
  amount BIGINT NOT NULL,
  PRIMARY KEY (tx_id, sub, expires_at)
) WITHOUT ROWID;
