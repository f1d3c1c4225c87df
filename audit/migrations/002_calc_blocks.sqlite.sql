-- The records a transaction appends to a shard's chain, seq … seq+n-1, in
-- one row (see block.go): deflated together, with the prev_hash of the
-- first only. calc_log keeps the records written before, one row each,
-- and gets no new ones. A rowid table: blocks are large, and the unique
-- (shard, seq) index finds the block of a record.
CREATE TABLE calc_blocks (
	shard INTEGER NOT NULL,
	seq INTEGER NOT NULL,
	n INTEGER NOT NULL CHECK (n > 0),
	block BLOB NOT NULL,
	UNIQUE (shard, seq)
);
