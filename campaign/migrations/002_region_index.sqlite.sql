-- Boards are read from the database only by (campaign, region): rebuilds and
-- drift checks. Keeping score out of the index spares every score update an
-- index change.
DROP INDEX campaign_members_board;
CREATE INDEX campaign_members_region ON campaign_members (campaign_id, region);
