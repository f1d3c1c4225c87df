-- A credit of the batch path (CreditBatchTx: the intake's group commit,
-- nearly every transaction of the ledger) keeps its two postings in its
-- head instead of two ledger_postings rows: mg moves mg from
-- AccountIssuance to sub, and points (no posting when 0) moves points the
-- same way. Every other transaction, and every credit written before this
-- migration, keeps its postings as rows (mg and points NULL); a
-- transaction never has both. Check, the entries and a reversal read the
-- postings of both kinds.
ALTER TABLE ledger_tx ADD COLUMN mg BIGINT CHECK (mg > 0);
ALTER TABLE ledger_tx ADD COLUMN points BIGINT CHECK (points >= 0);
