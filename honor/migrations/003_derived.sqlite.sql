-- The medal stats are no longer kept here: the consumer derives them, when
-- it handles a batch, from the credits the intake keeps (intake.Activity:
-- mg, credits per scenario and partner, days with credits), so it no
-- longer writes a row per credit. It keeps only what the credits cannot
-- tell: the campaigns a person joined and the longest streak it has seen
-- (best_streak never decreases, even when a credit of the run is reversed
-- later). Medals awarded stay in honor_medals.
CREATE TABLE honor_campaigns (
  account_id INTEGER NOT NULL,
  campaign_id TEXT NOT NULL,
  PRIMARY KEY (account_id, campaign_id)
) WITHOUT ROWID;
INSERT INTO honor_campaigns (account_id, campaign_id)
SELECT account_id, name FROM honor_counts WHERE kind = 'campaign' AND n > 0;
-- Written only when a person's longest run grows.
CREATE TABLE honor_streaks (
  account_id INTEGER PRIMARY KEY,
  best INTEGER NOT NULL
);
INSERT INTO honor_streaks (account_id, best)
SELECT account_id, best_streak FROM honor_stats WHERE best_streak > 0;
DROP TABLE honor_refs;
DROP TABLE honor_counts;
DROP TABLE honor_days;
DROP TABLE honor_stats;
