-- Every credit counted, by ledger ref, and whether it has been taken back:
-- replaces honor_credits, whose copy of each credit's values (account, mg,
-- day, scenario, partner) a reversal now takes from its credit.reversed
-- message, which carries the credit's values. One B-tree keyed by ref
-- (honor_credits was a table and a unique index).
CREATE TABLE honor_refs (
  ref TEXT PRIMARY KEY,
  reversed INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO honor_refs (ref, reversed)
SELECT ref, CASE WHEN reversed_at IS NULL THEN 0 ELSE 1 END FROM honor_credits ORDER BY ref;
DROP TABLE honor_credits;
