-- One outbox enqueue with one dedupe/re-arm rule, used by the services (asyncpg) and the RADIUS module's worker
-- (psycopg) alike; a destination per row so dispatch runs per router / SMS gateway / webhook; a circuit breaker
-- per destination.

-- Where a row goes. Routers are known to the dispatcher by the NAS-IP-Address radacct holds (the address the
-- Disconnect/CoA is sent to), so a router's lane is 'nas:<ip>'. SMS go out through the operator's (inherited)
-- gateway, chosen when the message is sent; every SMS shares the lane 'sms' so a slow provider never holds a
-- router back and the reverse. Webhooks: 'webhook:<id>'.
CREATE FUNCTION radbill_outbox_destination(p_kind text, p_payload jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_kind IN ('disconnect', 'coa') THEN 'nas:' || coalesce(p_payload ->> 'nas_ip', '')
        WHEN p_kind = 'sms' THEN 'sms'
        ELSE p_kind || ':' || coalesce(p_payload ->> 'webhook_id', '')
    END
$$;

ALTER TABLE outbox ADD COLUMN destination text;
UPDATE outbox SET destination = radbill_outbox_destination(kind, payload);
ALTER TABLE outbox ALTER COLUMN destination SET NOT NULL;

-- Rows written by hand (tests, ops repairs) get their destination from the same rule.
CREATE FUNCTION outbox_set_destination() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.destination := coalesce(NEW.destination, radbill_outbox_destination(NEW.kind, NEW.payload));
    RETURN NEW;
END $$;
CREATE TRIGGER outbox_destination BEFORE INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_set_destination();

-- The claim walks the pending rows of each destination in due order.
CREATE INDEX outbox_pending_lane ON outbox (destination, next_attempt_at, id)
    WHERE done_at IS NULL AND failed_at IS NULL;

-- The dedupe rule lives in these two indexes and radbill_enqueue below:
--   * a key is unique among PENDING rows (any kind): a duplicate is suppressed while the earlier one waits;
--   * a message's key (sms, webhook) is unique for ever: a person or system is told once.
ALTER TABLE outbox DROP CONSTRAINT outbox_dedupe_key_key;
CREATE UNIQUE INDEX outbox_dedupe_pending ON outbox (dedupe_key) WHERE done_at IS NULL AND failed_at IS NULL;
CREATE UNIQUE INDEX outbox_dedupe_message ON outbox (dedupe_key) WHERE kind IN ('sms', 'webhook');

-- radbill_enqueue: the only way rows enter the outbox. Returns the new row's id, or NULL when suppressed.
--
-- The re-arm rule:
--   * A dedupe key suppresses a duplicate only while the earlier row with that key is pending.
--   * Commands to routers (disconnect, coa) enforce the current state and are harmless to repeat, so once the
--     earlier row is finished -- done (ACKed, perhaps by a router that kept the session) or failed for good --
--     the same key enqueues a NEW row; the finished one keeps its history (result, attempts, alert).
--   * Messages (sms, webhook) are never sent twice: a key once used stays used, finished or not.
--   * A command for a session supersedes the pending commands it makes pointless: a disconnect every pending
--     command of that session, a CoA the pending CoAs (a pending disconnect must still happen).
--   * A NULL key never suppresses anything.
CREATE FUNCTION radbill_enqueue(p_kind text, p_operator_id bigint, p_payload jsonb, p_dedupe_key text DEFAULT NULL)
    RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
BEGIN
    IF p_kind IN ('disconnect', 'coa') AND p_payload ? 'acct_unique_id' THEN
        UPDATE outbox SET done_at = now(), result = jsonb_build_object('superseded_by', p_dedupe_key)
         WHERE payload ->> 'acct_unique_id' = p_payload ->> 'acct_unique_id'
           AND done_at IS NULL AND failed_at IS NULL
           AND kind IN ('coa', 'disconnect') AND (kind = 'coa' OR p_kind = 'disconnect')
           AND dedupe_key IS DISTINCT FROM p_dedupe_key;
    END IF;
    INSERT INTO outbox (kind, operator_id, payload, dedupe_key, destination)
    VALUES (p_kind, p_operator_id, p_payload, p_dedupe_key, radbill_outbox_destination(p_kind, p_payload))
    ON CONFLICT DO NOTHING
    RETURNING id INTO new_id;
    RETURN new_id;
END $$;

-- Circuit breaker per destination: after N consecutive timeouts the destination is open (opened_at set) and
-- the dispatcher sends one probe at a time until the destination answers again, which closes it.
CREATE TABLE outbox_breakers (
    destination text PRIMARY KEY,
    consecutive_timeouts integer NOT NULL DEFAULT 0 CHECK (consecutive_timeouts >= 0),
    opened_at timestamptz,
    last_error text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
