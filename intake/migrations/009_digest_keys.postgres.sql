-- The two unique indexes keyed by partner-chosen text, the idempotency key
-- (partner, event_id) and the exclusivity key (act, account, behavior), are
-- rebuilt on a 16-byte digest of that text: md5(...)::uuid, which
-- PostgreSQL computes from the row (no new column). An entry no longer
-- grows with the length of the ids (about 1.5 to 2 bytes a character
-- before, at the fill that ids written by many clients at once leave),
-- and random digests fill pages to about 70 % whatever the ids look like.
-- The price is locality: an id that grows with time no longer appends at
-- the right edge of the index but lands on a random page, as a random id
-- (UUID v4) did already. A query finds a row by the digest and compares
-- the text too, so two texts with one digest are never mistaken for each
-- other; the index refuses the second, which only a partner crafting
-- MD5 collisions of its own ids could meet (docs/operations.md).
-- partner ids cannot contain ':' and account ids are digits, so the
-- digested text is unambiguous. SQLite keeps its text keys: it has no
-- md5, and its compact records keep a whole event near 250 bytes.
CREATE UNIQUE INDEX intake_events_key_md5 ON intake_events ((md5(partner || ':' || event_id)::uuid));
CREATE UNIQUE INDEX intake_events_act_md5 ON intake_events ((md5(account_id::text || ':' || act_key)::uuid), behavior_id)
	WHERE act_key IS NOT NULL AND reversed_at IS NULL;
DROP INDEX intake_events_key;
DROP INDEX intake_events_act;
ALTER INDEX intake_events_key_md5 RENAME TO intake_events_key;
ALTER INDEX intake_events_act_md5 RENAME TO intake_events_act;
