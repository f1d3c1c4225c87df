-- Behavior and scenario names are interned in intake_names: event, usage
-- and act rows carry small integer ids instead of repeating the strings
-- (about 50 bytes less per credited event). The cap and footprint rows are
-- keyed by (account, day, ...) so one primary key serves both the cap
-- windows and the footprint ranges, without a second index.
CREATE TABLE intake_names (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE
);
INSERT INTO intake_names (name)
	SELECT behavior FROM intake_events
	UNION SELECT scenario FROM intake_events WHERE scenario IS NOT NULL
	UNION SELECT behavior FROM intake_usage
	UNION SELECT scenario FROM intake_usage
	UNION SELECT behavior FROM intake_acts;
CREATE TABLE intake_events_v2 (
	id INTEGER PRIMARY KEY,
	partner TEXT NOT NULL,
	event_id TEXT NOT NULL,
	body_hash TEXT NOT NULL,
	status TEXT NOT NULL,
	code TEXT,
	message TEXT,
	account_id INTEGER,
	sub_id INTEGER,
	behavior_id INTEGER NOT NULL,
	scenario_id INTEGER,
	occurred_at INTEGER NOT NULL,
	mg INTEGER NOT NULL DEFAULT 0,
	points INTEGER NOT NULL DEFAULT 0,
	calc_id TEXT,
	act_key TEXT,
	created_at INTEGER NOT NULL,
	reversed_at INTEGER,
	reverse_reason TEXT
);
INSERT INTO intake_events_v2 (id, partner, event_id, body_hash, status, code, message, account_id, sub_id, behavior_id, scenario_id,
		occurred_at, mg, points, calc_id, act_key, created_at, reversed_at, reverse_reason)
	SELECT e.id, e.partner, e.event_id, e.body_hash, e.status, e.code, e.message, e.account_id, e.sub_id, b.id, s.id,
		e.occurred_at, e.mg, e.points, e.calc_id, e.act_key, e.created_at, e.reversed_at, e.reverse_reason
	FROM intake_events e JOIN intake_names b ON b.name = e.behavior LEFT JOIN intake_names s ON s.name = e.scenario;
DROP TABLE intake_events;
ALTER TABLE intake_events_v2 RENAME TO intake_events;
CREATE UNIQUE INDEX intake_events_key ON intake_events (partner, event_id);
CREATE INDEX intake_events_account ON intake_events (account_id, id) WHERE account_id IS NOT NULL;
CREATE TABLE intake_usage_v2 (
	account_id INTEGER NOT NULL,
	day INTEGER NOT NULL,
	behavior_id INTEGER NOT NULL,
	partner TEXT NOT NULL,
	scenario_id INTEGER NOT NULL,
	mg INTEGER NOT NULL,
	events INTEGER NOT NULL,
	PRIMARY KEY (account_id, day, behavior_id, partner)
) WITHOUT ROWID;
INSERT INTO intake_usage_v2 (account_id, day, behavior_id, partner, scenario_id, mg, events)
	SELECT u.account_id, u.day, b.id, u.partner, s.id, u.mg, u.events
	FROM intake_usage u JOIN intake_names b ON b.name = u.behavior JOIN intake_names s ON s.name = u.scenario;
DROP TABLE intake_usage;
ALTER TABLE intake_usage_v2 RENAME TO intake_usage;
CREATE TABLE intake_acts_v2 (
	account_id INTEGER NOT NULL,
	act_key TEXT NOT NULL,
	behavior_id INTEGER NOT NULL,
	PRIMARY KEY (account_id, act_key, behavior_id)
) WITHOUT ROWID;
INSERT INTO intake_acts_v2 (account_id, act_key, behavior_id)
	SELECT a.account_id, a.act_key, b.id FROM intake_acts a JOIN intake_names b ON b.name = a.behavior;
DROP TABLE intake_acts;
ALTER TABLE intake_acts_v2 RENAME TO intake_acts;
