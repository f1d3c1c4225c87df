-- Acts are keyed by the act first: (act_key, account_id, behavior_id)
-- instead of (account_id, ...). Lookups give both columns, so either order
-- serves them; but partners' act keys (order, parcel, trip numbers) mostly
-- grow with time, so new acts now land at the end of the index, on pages
-- that the group commit already holds, instead of one page per person
-- anywhere in it (a random B-tree insert, and one more WAL frame, per
-- credited event).
CREATE TABLE intake_acts_v5 (
	act_key TEXT NOT NULL,
	account_id INTEGER NOT NULL,
	behavior_id INTEGER NOT NULL,
	PRIMARY KEY (act_key, account_id, behavior_id)
) WITHOUT ROWID;
INSERT INTO intake_acts_v5 (act_key, account_id, behavior_id)
	SELECT act_key, account_id, behavior_id FROM intake_acts;
DROP TABLE intake_acts;
ALTER TABLE intake_acts_v5 RENAME TO intake_acts;
