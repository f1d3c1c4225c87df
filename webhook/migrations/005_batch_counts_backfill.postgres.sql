-- Credit batch rows written before migration 4 counted as one message
-- (its default). Their count is the number of event ids in the body;
-- Feed.Next and Prune bound their reads and deletes by it.
UPDATE outbox SET n = json_array_length(body::json -> 'e') WHERE topic = 'credit.created[]' AND n = 1;
