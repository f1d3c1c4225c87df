-- Partners registered by an operator. scopes is a space-separated, sorted
-- list; secret_version counts rotations and numbers partner_secrets rows.
CREATE TABLE partners (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  scopes TEXT NOT NULL,
  webhook_url TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'active',
  secret_version INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
-- Signing secrets, encrypted at rest with AES-256-GCM (nonce || ciphertext,
-- base64). expires_at is NULL for the current secret and the end of the
-- overlap window for a rotated one.
CREATE TABLE partner_secrets (
  partner TEXT NOT NULL REFERENCES partners (id),
  version INTEGER NOT NULL,
  secret TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT,
  PRIMARY KEY (partner, version)
);
-- Nonces of verified requests, kept until the request's timestamp leaves
-- the acceptance window (expires_at), so a replay inside it is refused. The
-- primary key makes the check hold across server processes.
CREATE TABLE partner_nonces (
  partner TEXT NOT NULL,
  nonce TEXT NOT NULL,
  seen_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (partner, nonce)
);
CREATE INDEX partner_nonces_expires ON partner_nonces (expires_at);
