-- radbill_enqueue_many: the outbox's one enqueue rule (0014, 0042) for a whole set of rows at once, so a set-based
-- writer (the bill run's SMS: one row per bill) costs one INSERT ... SELECT instead of a PL/pgSQL call and a
-- single-row INSERT per row. radbill_enqueue (one row) now calls it, so there is one rule, not two.
--
-- Same rule as before, row for row, in the arrays' order:
--   * messages (sms, webhook, whatsapp): one INSERT of all rows in array order, ON CONFLICT DO NOTHING -- a key
--     already used, or used by an earlier row of the same set, suppresses the row (the first one wins, as it did
--     when the rows were enqueued one by one);
--   * commands (disconnect, coa) supersede the pending commands of their session, which may include a row
--     enqueued earlier in the same set, so they stay row by row (sets of commands are small: one session's).
-- Returns the ids of the rows inserted, in array order (a suppressed row returns nothing).
CREATE FUNCTION radbill_enqueue_many(p_kind text, p_operator_ids bigint[], p_payloads jsonb[],
                                     p_dedupe_keys text[])
    RETURNS SETOF bigint LANGUAGE plpgsql AS $$
BEGIN
    IF p_kind IN ('disconnect', 'coa') THEN
        FOR i IN 1 .. coalesce(array_length(p_payloads, 1), 0) LOOP
            IF p_payloads[i] ? 'acct_unique_id' THEN
                UPDATE outbox SET done_at = now(), result = jsonb_build_object('superseded_by', p_dedupe_keys[i])
                 WHERE payload ->> 'acct_unique_id' = p_payloads[i] ->> 'acct_unique_id'
                   AND done_at IS NULL AND failed_at IS NULL
                   AND kind IN ('coa', 'disconnect') AND (kind = 'coa' OR p_kind = 'disconnect')
                   AND dedupe_key IS DISTINCT FROM p_dedupe_keys[i];
            END IF;
            RETURN QUERY
                WITH ins AS (
                    INSERT INTO outbox (kind, operator_id, payload, dedupe_key, destination)
                    VALUES (p_kind, p_operator_ids[i], p_payloads[i], p_dedupe_keys[i],
                            radbill_outbox_destination(p_kind, p_payloads[i]))
                    ON CONFLICT DO NOTHING
                    RETURNING id)
                SELECT id FROM ins;
        END LOOP;
        RETURN;
    END IF;
    RETURN QUERY
        WITH ins AS (
            INSERT INTO outbox (kind, operator_id, payload, dedupe_key, destination)
            SELECT p_kind, r.operator_id, r.payload, r.dedupe_key, radbill_outbox_destination(p_kind, r.payload)
              FROM unnest(p_operator_ids, p_payloads, p_dedupe_keys) WITH ORDINALITY AS r(operator_id, payload, dedupe_key, n)
             ORDER BY r.n
            ON CONFLICT DO NOTHING
            RETURNING id)
        SELECT id FROM ins ORDER BY id;
END $$;

-- One row: the set of one. Returns the new row's id, or NULL when suppressed (as since 0014).
CREATE OR REPLACE FUNCTION radbill_enqueue(p_kind text, p_operator_id bigint, p_payload jsonb,
                                           p_dedupe_key text DEFAULT NULL)
    RETURNS bigint LANGUAGE sql AS $$
    SELECT id FROM radbill_enqueue_many(p_kind, ARRAY[p_operator_id], ARRAY[p_payload], ARRAY[p_dedupe_key]) AS id
$$;
