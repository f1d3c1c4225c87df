-- The last absence of a member who left and joined again: credits made
-- in [away_from, away_to) do not count, even when the score consumer gets
-- to them after the rejoin.
ALTER TABLE campaign_members ADD COLUMN away_from BIGINT;
ALTER TABLE campaign_members ADD COLUMN away_to BIGINT;
