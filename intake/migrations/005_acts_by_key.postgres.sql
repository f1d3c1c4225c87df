-- Acts are keyed by the act first (see the SQLite migration): new acts
-- land at the end of the primary key index instead of one page per person.
CREATE TABLE intake_acts_v5 (
	act_key TEXT NOT NULL,
	account_id BIGINT NOT NULL,
	behavior_id INTEGER NOT NULL,
	PRIMARY KEY (act_key, account_id, behavior_id)
);
INSERT INTO intake_acts_v5 (act_key, account_id, behavior_id)
	SELECT act_key, account_id, behavior_id FROM intake_acts;
DROP TABLE intake_acts;
ALTER TABLE intake_acts_v5 RENAME TO intake_acts;
