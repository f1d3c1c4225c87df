-- Boards are read from the database only by (campaign, region): rebuilds and
-- drift checks. With score, reached_at and version out of every index and
-- room left in each page, a score update is a heap-only (HOT) update: no
-- index changes at all.
DROP INDEX campaign_members_board;
CREATE INDEX campaign_members_region ON campaign_members (campaign_id, region);
ALTER TABLE campaign_members SET (fillfactor = 80);
