-- Every credit counted, by ledger ref, and whether it has been taken back:
-- replaces honor_credits, whose copy of each credit's values (account, mg,
-- day, scenario, partner) a reversal now takes from its credit.reversed
-- message, which carries the credit's values.
CREATE TABLE honor_refs (
  ref TEXT PRIMARY KEY,
  reversed SMALLINT NOT NULL DEFAULT 0
);
INSERT INTO honor_refs (ref, reversed)
SELECT ref, CASE WHEN reversed_at IS NULL THEN 0 ELSE 1 END FROM honor_credits ORDER BY ref;
DROP TABLE honor_credits;
