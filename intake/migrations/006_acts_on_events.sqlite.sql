-- Acts are read from the event rows: a unique partial index on
-- intake_events (act_key, account_id, behavior_id) of the credited events
-- not reversed replaces the intake_acts table, which held the same rows
-- again under the same primary key. Its key keeps the act first (see
-- migration 5). Being unique, it still refuses a second credit of one act
-- and behavior that a stale read let through (two writers of different
-- shards): the group commit then falls back to the event-by-event path,
-- which reads the act again and answers excluded_by. A reversal sets
-- reversed_at, which takes the event out of the index, so the act is free
-- again. On PostgreSQL this saves the acts' heap tuple, about 60 bytes an
-- event; one write fewer per group commit on both.
CREATE UNIQUE INDEX intake_events_act ON intake_events (act_key, account_id, behavior_id) WHERE act_key IS NOT NULL AND reversed_at IS NULL;
DROP TABLE intake_acts;
