-- Usage rows are rewritten by every credit of their person, day and
-- behavior: free room on each page lets the new version stay on the page
-- (HOT), as for ledger_balances (ledger migration 6).
ALTER TABLE intake_usage SET (fillfactor = 80);
