-- One row per credited event: the calc record (methodology.Calc in a
-- compact form, see audit/record.go: format 1 deflated canonical JSON,
-- format 2 binary), chained per shard by the
-- prev_hash inside the record. The record's own hash is not stored: it is
-- recomputed from the bytes, and the head of each chain is kept in
-- calc_chain so the last record is covered too.
CREATE TABLE calc_log (
	shard INTEGER NOT NULL,
	seq BIGINT NOT NULL,
	account_id BIGINT NOT NULL,
	record BYTEA NOT NULL,
	PRIMARY KEY (shard, seq)
);
CREATE TABLE calc_chain (
	shard INTEGER PRIMARY KEY,
	seq BIGINT NOT NULL,
	hash TEXT NOT NULL
);
