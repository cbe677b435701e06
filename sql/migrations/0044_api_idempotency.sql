-- REST API v1 (issue 18 item 2): the Idempotency-Key of unsafe API requests (payments first).
--
-- One row per (client, key): the request's fingerprint (sha256 of method, path and body) and the response it got.
-- A row is inserted and its response stored in the SAME transaction as the work it guards, so no other
-- transaction ever sees a key without its response: a concurrent duplicate waits on the unique index until the
-- first commits (then replays its response) or rolls back (then does the work itself). Never two payments.
-- operator_id is the scope the request ran in (the client's scope), so row-level security covers the rows like
-- any tenant's. Rows older than 24 hours are taken over by a new request with the key and purged hourly.
CREATE TABLE api_idempotency (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id bigint NOT NULL REFERENCES api_clients (id),
    operator_id bigint NOT NULL REFERENCES operators (id),
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint bytea NOT NULL CHECK (length(fingerprint) = 32),
    -- NULL only inside the transaction that claimed the key (it stores the response before it commits)
    status smallint CHECK (status BETWEEN 200 AND 599),
    body jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, key)
);
CREATE INDEX api_idempotency_created ON api_idempotency (created_at);

SELECT radbill_tenant_policies('api_idempotency', 'operator_id', 'subtree', 'subtree');

-- A ticket reply sent through the API is staff's (the client acts for its operator), not the customer's: the
-- thread tells them apart by this column as well as by author_account_id (tickets.THREAD_SQL's by_staff).
ALTER TABLE ticket_messages ADD COLUMN author_api_client_id bigint REFERENCES api_clients (id);
