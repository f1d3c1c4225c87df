-- A credit that the group commit writes has mg, points and created_at in
-- its ledger transaction's head (ledger migration 5), which has the event
-- row's id: on PostgreSQL the event row now leaves the three NULL, as it
-- leaves sub_id and calc_id (24 bytes an event), and readers take them
-- from the transaction. Rows written before, the event-by-event path's
-- credits (whose postings are rows) and remembered rejections keep theirs.
-- Dropping NOT NULL changes only the catalog; the defaults stay for the
-- writers that leave the columns out. SQLite keeps NOT NULL: it would have
-- to copy the table to drop it, and its small integers take 1 to 4 bytes.
ALTER TABLE intake_events ALTER COLUMN mg DROP NOT NULL, ALTER COLUMN points DROP NOT NULL,
	ALTER COLUMN created_at DROP NOT NULL;
