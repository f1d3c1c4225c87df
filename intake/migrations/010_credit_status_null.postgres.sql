-- A credit that the group commit writes leaves status NULL on PostgreSQL:
-- a row with a ledger transaction (a positive id, see migration 3) is a
-- credit, as its transaction says, and readers take NULL as 'credited'
-- (9 bytes an event). Remembered rejections, the event-by-event path's
-- credits and rows written before keep theirs. As migration 8, this
-- changes only the catalog; SQLite keeps NOT NULL.
ALTER TABLE intake_events ALTER COLUMN status DROP NOT NULL;
