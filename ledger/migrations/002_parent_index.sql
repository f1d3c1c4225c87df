-- A person's entries are listed newest first by id alone: the index no
-- longer repeats created_at (8 bytes less per transaction).
DROP INDEX ledger_tx_parent;
CREATE INDEX ledger_tx_parent ON ledger_tx (parent, id);
