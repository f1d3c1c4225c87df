-- A transaction's debt (what a credit repaid, what a reversal left owing)
-- is 0 for nearly every credit. On PostgreSQL the batch path now writes
-- NULL for it instead, which takes no room in the row (8 bytes an event);
-- readers take NULL as 0. Dropping NOT NULL changes only the catalog. The
-- default 0 stays for the writers that leave the column out; SQLite keeps
-- NOT NULL, as an integer 0 takes no room in its record format either.
ALTER TABLE ledger_tx ALTER COLUMN debt DROP NOT NULL;
