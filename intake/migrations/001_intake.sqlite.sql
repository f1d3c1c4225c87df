-- Every remembered event outcome: credited events and the rejections that
-- depend only on the event (see package doc). (partner, event_id) is the
-- idempotency key; body_hash tells a repeat from a conflicting reuse.
-- account_id is set only for credited events (entries and footprint).
CREATE TABLE intake_events (
	id INTEGER PRIMARY KEY,
	partner TEXT NOT NULL,
	event_id TEXT NOT NULL,
	body_hash TEXT NOT NULL,
	status TEXT NOT NULL,
	code TEXT,
	message TEXT,
	account_id INTEGER,
	sub_id INTEGER,
	behavior TEXT NOT NULL,
	scenario TEXT,
	occurred_at INTEGER NOT NULL,
	mg INTEGER NOT NULL DEFAULT 0,
	points INTEGER NOT NULL DEFAULT 0,
	calc_id TEXT,
	act_key TEXT,
	created_at INTEGER NOT NULL,
	reversed_at INTEGER,
	reverse_reason TEXT
);
CREATE UNIQUE INDEX intake_events_key ON intake_events (partner, event_id);
CREATE INDEX intake_events_account ON intake_events (account_id, id) WHERE account_id IS NOT NULL;
-- Credited mg per person, behavior, partner and local day (YYYYMMDD in the
-- methodology engine's time zone): the cap windows and the footprint.
CREATE TABLE intake_usage (
	account_id INTEGER NOT NULL,
	behavior TEXT NOT NULL,
	day INTEGER NOT NULL,
	partner TEXT NOT NULL,
	scenario TEXT NOT NULL,
	mg INTEGER NOT NULL,
	events INTEGER NOT NULL,
	PRIMARY KEY (account_id, behavior, day, partner)
) WITHOUT ROWID;
CREATE INDEX intake_usage_day ON intake_usage (account_id, day);
-- Real-world acts already credited, for exclusivity between behaviors.
CREATE TABLE intake_acts (
	account_id INTEGER NOT NULL,
	act_key TEXT NOT NULL,
	behavior TEXT NOT NULL,
	PRIMARY KEY (account_id, act_key, behavior)
) WITHOUT ROWID;
