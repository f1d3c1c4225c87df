-- The records a transaction appends to a shard's chain, seq … seq+n-1, in
-- one row (see block.go): deflated together, with the prev_hash of the
-- first only. calc_log keeps the records written before, one row each,
-- and gets no new ones. A block is already deflated: EXTERNAL keeps
-- PostgreSQL from trying to compress it again when it goes to TOAST.
CREATE TABLE calc_blocks (
	shard INTEGER NOT NULL,
	seq BIGINT NOT NULL,
	n INTEGER NOT NULL CHECK (n > 0),
	block BYTEA NOT NULL,
	PRIMARY KEY (shard, seq)
);
ALTER TABLE calc_blocks ALTER COLUMN block SET STORAGE EXTERNAL;
