-- A credit of the batch path (CreditBatchTx: the intake's group commit,
-- nearly every transaction of the ledger) keeps its two postings in its
-- head instead of two ledger_postings rows: mg moves mg from
-- AccountIssuance to sub, and points (no posting when 0) moves points the
-- same way. On PostgreSQL the two rows took about 220 bytes a credit with
-- their primary key; the two columns take 16. Every other transaction, and
-- every credit written before this migration, keeps its postings as rows
-- (mg and points NULL); a transaction never has both. Check, the entries
-- and a reversal read the postings of both kinds. The columns are added
-- without a default (no table rewrite) and their checks NOT VALID (no
-- scan of the rows before them, which are all NULL).
ALTER TABLE ledger_tx ADD COLUMN mg BIGINT, ADD COLUMN points BIGINT;
ALTER TABLE ledger_tx ADD CONSTRAINT ledger_tx_mg CHECK (mg > 0) NOT VALID,
	ADD CONSTRAINT ledger_tx_points CHECK (points >= 0) NOT VALID;
