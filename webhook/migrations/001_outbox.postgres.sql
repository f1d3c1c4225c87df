CREATE TABLE outbox (
  id BIGSERIAL PRIMARY KEY,
  -- the writing transaction's id: a consumer only reads rows of transactions
  -- older than every transaction still running, so a row that commits late
  -- with a smaller id is never skipped.
  txid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
  topic TEXT NOT NULL,
  partner TEXT NOT NULL DEFAULT '',
  account_id BIGINT NOT NULL DEFAULT 0,
  body TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX outbox_txid ON outbox (txid, id);
CREATE TABLE outbox_cursors (
  consumer TEXT PRIMARY KEY,
  txid BIGINT NOT NULL,
  last_id BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
