-- Aggregate stats per parent account, maintained from the outbox (credits,
-- reversals, campaign joins): the inputs of medal rules.
CREATE TABLE honor_stats (
  account_id BIGINT PRIMARY KEY,
  mg BIGINT NOT NULL DEFAULT 0,
  credits BIGINT NOT NULL DEFAULT 0,
  streak BIGINT NOT NULL DEFAULT 0,
  best_streak BIGINT NOT NULL DEFAULT 0,
  updated_at BIGINT NOT NULL
);
-- Counters by kind: 'scenario', 'partner' (credits per name) and
-- 'campaign' (1 per campaign joined).
CREATE TABLE honor_counts (
  account_id BIGINT NOT NULL,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY (account_id, kind, name)
);
-- Credits per local day (days since 1970-01-01 in Asia/Shanghai), for streaks.
CREATE TABLE honor_days (
  account_id BIGINT NOT NULL,
  day BIGINT NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY (account_id, day)
);
-- Every credit seen, keyed by ledger ref: makes replays no-ops and lets a
-- reversal undo exactly what its credit added.
CREATE TABLE honor_credits (
  ref TEXT PRIMARY KEY,
  account_id BIGINT NOT NULL,
  mg BIGINT NOT NULL,
  day BIGINT NOT NULL,
  scenario TEXT NOT NULL,
  partner TEXT NOT NULL,
  reversed_at BIGINT
);
-- A medal is awarded once per account, ever.
CREATE TABLE honor_medals (
  account_id BIGINT NOT NULL,
  medal_id TEXT NOT NULL,
  awarded_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, medal_id)
)
