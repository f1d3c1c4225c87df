-- One row per credited event: the calc record (methodology.Calc in a
-- compact form, see audit/record.go: format 1 deflated canonical JSON,
-- format 2 binary), chained per shard by the
-- prev_hash inside the record. The record's own hash is not stored: it is
-- recomputed from the bytes, and the head of each chain is kept in
-- calc_chain so the last record is covered too.
CREATE TABLE calc_log (
	shard INTEGER NOT NULL,
	seq INTEGER NOT NULL,
	account_id INTEGER NOT NULL,
	record BLOB NOT NULL,
	PRIMARY KEY (shard, seq)
) WITHOUT ROWID;
CREATE TABLE calc_chain (
	shard INTEGER PRIMARY KEY,
	seq INTEGER NOT NULL,
	hash TEXT NOT NULL
);
