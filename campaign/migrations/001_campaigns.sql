CREATE TABLE campaigns (
  id TEXT PRIMARY KEY,
  title_zh TEXT NOT NULL,
  title_en TEXT NOT NULL,
  time_zone TEXT NOT NULL,
  -- the window as the operator wrote it, local wall-clock minutes
  start_local TEXT NOT NULL,
  end_local TEXT NOT NULL,
  -- the same window as instants: [start_at, end_at), end_at = end_local + 1 minute
  start_at BIGINT NOT NULL,
  end_at BIGINT NOT NULL,
  regions TEXT NOT NULL,
  behaviors TEXT NOT NULL,
  scenarios TEXT NOT NULL,
  bonus_percent BIGINT NOT NULL DEFAULT 0,
  bonus_expiry_days BIGINT NOT NULL DEFAULT 0,
  medals TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX campaigns_window ON campaigns (start_at, end_at);
-- One row per person (parent account) who joined a campaign: the opt-in and
-- the score (source of truth of every leaderboard; boards are projections).
CREATE TABLE campaign_members (
  campaign_id TEXT NOT NULL REFERENCES campaigns (id),
  account_id BIGINT NOT NULL,
  region TEXT NOT NULL,
  display_name TEXT NOT NULL DEFAULT '',
  joined_at BIGINT NOT NULL,
  left_at BIGINT,
  score BIGINT NOT NULL DEFAULT 0,
  reached_at BIGINT NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  PRIMARY KEY (campaign_id, account_id)
);
CREATE INDEX campaign_members_account ON campaign_members (account_id);
CREATE INDEX campaign_members_board ON campaign_members (campaign_id, region, score, reached_at);
-- The journal of credits that counted: one row per (campaign, ledger ref),
-- written in the same transaction as the score change, so a replayed
-- outbox message never counts twice and a reversal subtracts exactly once.
CREATE TABLE campaign_credits (
  campaign_id TEXT NOT NULL,
  ref TEXT NOT NULL,
  account_id BIGINT NOT NULL,
  mg BIGINT NOT NULL,
  bonus_points BIGINT NOT NULL,
  credited_at BIGINT NOT NULL,
  reversed_at BIGINT,
  PRIMARY KEY (campaign_id, ref)
);
CREATE INDEX campaign_credits_ref ON campaign_credits (ref);
CREATE INDEX campaign_credits_member ON campaign_credits (campaign_id, account_id)
