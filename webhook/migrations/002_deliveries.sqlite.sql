-- One row per (outbox message, partner) to be posted to the partner's
-- webhook URL. body is the exact envelope sent on every attempt, so a
-- retry is byte-identical and the receiver can dedup on the delivery id.
CREATE TABLE webhook_deliveries (
  id INTEGER PRIMARY KEY,
  message_id BIGINT NOT NULL,
  partner TEXT NOT NULL,
  topic TEXT NOT NULL,
  body TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at BIGINT NOT NULL,
  last_status INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  delivered_at BIGINT,
  UNIQUE (message_id, partner)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_at);
