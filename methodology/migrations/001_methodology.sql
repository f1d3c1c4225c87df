-- Methodology registry: versions, review decisions, lifecycle transitions,
-- reviewer accounts and the emission factor library.
CREATE TABLE methodology_versions (
	id TEXT NOT NULL,
	version TEXT NOT NULL,
	scenario TEXT NOT NULL,
	hash TEXT NOT NULL,
	document TEXT NOT NULL,
	source TEXT NOT NULL,
	status TEXT NOT NULL,
	author TEXT NOT NULL,
	supersedes TEXT NOT NULL DEFAULT '',
	effective_from BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	changed_at BIGINT NOT NULL,
	PRIMARY KEY (id, version)
);
CREATE INDEX methodology_versions_status ON methodology_versions (status);
CREATE TABLE methodology_reviews (
	id TEXT NOT NULL,
	version TEXT NOT NULL,
	hash TEXT NOT NULL,
	reviewer TEXT NOT NULL,
	decision TEXT NOT NULL,
	comment TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (id, version, hash, reviewer)
);
CREATE TABLE methodology_transitions (
	seq BIGINT NOT NULL,
	id TEXT NOT NULL,
	version TEXT NOT NULL,
	from_status TEXT NOT NULL,
	to_status TEXT NOT NULL,
	actor TEXT NOT NULL,
	reason TEXT NOT NULL,
	at BIGINT NOT NULL,
	PRIMARY KEY (id, version, seq)
);
CREATE TABLE methodology_reviewers (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	roles TEXT NOT NULL,
	token_hash TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL
);
CREATE TABLE emission_factors (
	id TEXT NOT NULL,
	version TEXT NOT NULL,
	document TEXT NOT NULL,
	status TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	changed_at BIGINT NOT NULL,
	PRIMARY KEY (id, version)
);
CREATE TABLE methodology_generation (
	k INTEGER PRIMARY KEY,
	generation BIGINT NOT NULL
);
INSERT INTO methodology_generation (k, generation) VALUES (1, 0);
