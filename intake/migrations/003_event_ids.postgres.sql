-- A credited event's row takes the id of its ledger transaction, and a
-- remembered rejection (no ledger transaction) a negative id from
-- intake_events_rejected. A person's entries are then read from the
-- ledger's (parent, id) index, joined by id, and intake_events loses its
-- own index per account. Entry cursors are ids, so a cursor handed out
-- before this migration starts over.
ALTER TABLE intake_events ALTER COLUMN id DROP IDENTITY IF EXISTS;
-- Negative first, so no new id meets an old one.
UPDATE intake_events SET id = -id;
UPDATE intake_events e SET id = t.id FROM ledger_tx t
	WHERE e.status = 'credited' AND t.ref = 'evt:' || e.partner || ':' || e.event_id;
CREATE SEQUENCE intake_events_rejected;
SELECT setval('intake_events_rejected', COALESCE((SELECT -MIN(id) FROM intake_events WHERE id < 0), 0) + 1, false);
DROP INDEX intake_events_account;
