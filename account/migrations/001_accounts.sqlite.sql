-- A parent account per person who consented. person is NULL once erased,
-- when tombstone stands in for it; ids and everything keyed by them stay.
CREATE TABLE accounts (
  id INTEGER PRIMARY KEY,
  person TEXT UNIQUE,
  tombstone TEXT UNIQUE,
  entry_point TEXT NOT NULL,
  consent_version TEXT NOT NULL,
  opened_at BIGINT NOT NULL,
  erased_at BIGINT
);
-- One sub-account per partner the person linked; linked = 0 after a revoke
-- (the row and its id stay: its postings still count).
CREATE TABLE subaccounts (
  id INTEGER PRIMARY KEY,
  account_id BIGINT NOT NULL REFERENCES accounts (id),
  partner TEXT NOT NULL REFERENCES partners (id),
  linked INTEGER NOT NULL,
  linked_at BIGINT NOT NULL,
  revoked_at BIGINT,
  UNIQUE (account_id, partner)
);
-- Append-only record of every consent given or withdrawn.
CREATE TABLE consents (
  id INTEGER PRIMARY KEY,
  account_id BIGINT NOT NULL REFERENCES accounts (id),
  kind TEXT NOT NULL,
  partner TEXT NOT NULL DEFAULT '',
  consent_version TEXT NOT NULL DEFAULT '',
  entry_point TEXT NOT NULL DEFAULT '',
  at BIGINT NOT NULL
);
CREATE INDEX consents_account ON consents (account_id, id);
