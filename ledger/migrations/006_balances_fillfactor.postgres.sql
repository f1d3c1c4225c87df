-- Balance rows are rewritten by every credit of their account. Leaving a
-- fifth of each page free lets PostgreSQL put the new version of a row on
-- the same page (a HOT update: no new primary key entry, and the old
-- version is pruned without waiting for VACUUM) instead of another page.
-- The price: rows that are seldom rewritten take a quarter more room. It
-- applies to pages written from now on.
ALTER TABLE ledger_balances SET (fillfactor = 80);
