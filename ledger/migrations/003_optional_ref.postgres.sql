-- A transaction's ref becomes optional: the intake stores its credits
-- without one (the event row, which has the transaction's id, is their
-- idempotency key). Refs that are set stay unique (ledger_tx_ref_key
-- allows any number of NULLs).
ALTER TABLE ledger_tx ALTER COLUMN ref DROP NOT NULL;
