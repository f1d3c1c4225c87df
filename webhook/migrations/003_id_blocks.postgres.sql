-- A credit batch row (EnqueueCreditsTx) holds up to 1024 messages whose
-- ids are consecutive and end at the row's id. One nextval reserves such a
-- block: every id drawn is the start of 1024 ids nobody else draws. Ids of
-- other rows are still unique and increasing, with gaps between them.
ALTER SEQUENCE outbox_id_seq INCREMENT BY 1024;
