-- How many messages a row holds: 1, or a credit batch row's credits
-- (EnqueueCreditsTx). Feed.Next reads the bodies of only as many rows as
-- its bound needs: PostgreSQL sends every row of a query's LIMIT, and a
-- row can hold 1,024 messages. (SQLite steps through rows one at a time,
-- so it needs no count.)
ALTER TABLE outbox ADD COLUMN n INTEGER NOT NULL DEFAULT 1;
