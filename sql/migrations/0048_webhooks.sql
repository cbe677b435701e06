-- Signed webhooks (issue 18 items 5-6): endpoints an operator registers, one delivery row per (endpoint, event),
-- one attempt row per POST. Sending goes through the outbox (kind 'webhook', destination 'webhook:<endpoint id>',
-- radbill_outbox_destination in 0014): every endpoint is its own lane with its own circuit breaker.

CREATE TABLE webhook_endpoints (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    url text NOT NULL CHECK (length(url) BETWEEN 8 AND 500 AND url ~ '^https?://'),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 200),
    events text[] NOT NULL CHECK (cardinality(events) > 0),
    secret_sealed text NOT NULL,           -- 'whsec_<base64>' sealed by radbill.secretbox, shown once
    enabled boolean NOT NULL DEFAULT true,
    disabled_reason text,
    failing_since timestamptz,             -- the first failed attempt after the last success; NULL while healthy
    last_success_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_operator ON webhook_endpoints (operator_id);

CREATE TABLE webhook_deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    operator_id bigint NOT NULL REFERENCES operators (id),   -- the endpoint's owner (who reads the log)
    event_id text NOT NULL,                                   -- Standard Webhooks' webhook-id: 'msg_...'
    event_type text NOT NULL,
    payload jsonb NOT NULL,                                   -- the exact body sent, as sent every attempt
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id DESC);
CREATE INDEX webhook_deliveries_waiting ON webhook_deliveries (endpoint_id) WHERE delivered_at IS NULL;

CREATE TABLE webhook_attempts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    operator_id bigint NOT NULL REFERENCES operators (id),
    at timestamptz NOT NULL DEFAULT now(),
    status_code integer,
    duration_ms integer NOT NULL CHECK (duration_ms >= 0),
    response_excerpt text CHECK (length(response_excerpt) <= 1024),
    error text
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

SELECT radbill_tenant_policies(t, 'operator_id', 'subtree', 'subtree')
  FROM unnest(ARRAY['webhook_endpoints', 'webhook_deliveries', 'webhook_attempts']::regclass[]) AS t;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints, webhook_deliveries, webhook_attempts TO radbill_app;

ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check CHECK (kind IN (
    'sms_no_gateway', 'sms_no_balance', 'sms_failed', 'sms_refused', 'router_unreachable', 'router_refused',
    'delivery_failed', 'backup_stale', 'webhook_failing'));

-- The one rule of who hears an event: every enabled endpoint subscribed to the event whose owner's subtree holds
-- the event's operator (a parent's endpoint hears its sub-operators; a sub-operator's never hears its parent's).
-- One delivery row and one outbox row (through radbill_enqueue) per endpoint; the event id is shared by all of
-- them (it names the event). Set-based: element i of the three arrays is one event, so a bill run or a fold batch
-- is one statement. SECURITY DEFINER: a sub-operator's action must reach its parent's endpoint, which its
-- row-level security hides.
CREATE FUNCTION radbill_webhook_emit_many(p_events text[], p_operator_ids bigint[], p_data jsonb[]) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH ev AS MATERIALIZED (
        SELECT e.event, e.operator_id, e.data, 'msg_' || replace(gen_random_uuid()::text, '-', '') AS msg
          FROM unnest(p_events, p_operator_ids, p_data) AS e(event, operator_id, data)
    ), hearing AS (
        SELECT ev.*, w.id AS endpoint_id, w.operator_id AS owner
          FROM ev JOIN operators o ON o.id = ev.operator_id
          JOIN webhook_endpoints w ON w.enabled AND ev.event = ANY (w.events)
          JOIN operators wo ON wo.id = w.operator_id AND wo.path @> o.path
    ), delivery AS (
        INSERT INTO webhook_deliveries (endpoint_id, operator_id, event_id, event_type, payload)
        SELECT h.endpoint_id, h.owner, h.msg, h.event,
               jsonb_build_object('type', h.event, 'timestamp',
                                  to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'data', h.data)
          FROM hearing h
        RETURNING id, endpoint_id, operator_id, event_id
    )
    SELECT count(radbill_enqueue('webhook', d.operator_id,
                                 jsonb_build_object('webhook_id', d.endpoint_id, 'delivery_id', d.id),
                                 'webhook:' || d.endpoint_id || ':' || d.event_id))::integer
      FROM delivery d
$$;

CREATE FUNCTION radbill_webhook_emit(p_event text, p_operator_id bigint, p_data jsonb) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT radbill_webhook_emit_many(ARRAY[p_event], ARRAY[p_operator_id], ARRAY[p_data])
$$;
REVOKE ALL ON FUNCTION radbill_webhook_emit_many(text[], bigint[], jsonb[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radbill_webhook_emit_many(text[], bigint[], jsonb[]) TO radbill_app, radbill_radius;
REVOKE ALL ON FUNCTION radbill_webhook_emit(text, bigint, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radbill_webhook_emit(text, bigint, jsonb) TO radbill_app, radbill_radius;

-- Sessions: the accounting fold writes radacct set-based, so its events are found set-based too, by statement
-- triggers over the rows each statement changed. Without a subscriber the trigger returns after one probe of a
-- tiny table (measured with `make bench-fold`, see README).
-- Whether any enabled endpoint listens to one of `p_events`: set-based emitters (the fold, bill runs) ask this
-- once per statement and skip all per-row work when nobody listens.
CREATE FUNCTION radbill_webhook_subscribed(p_events text[]) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled AND events && p_events)
$$;
GRANT EXECUTE ON FUNCTION radbill_webhook_subscribed(text[]) TO radbill_app, radbill_radius;

CREATE FUNCTION radbill_webhook_session_json(r radacct) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'username', r.username, 'acct_session_id', r.acctsessionid, 'acct_unique_id', r.acctuniqueid,
        'nas_ip', host(r.nasipaddress), 'framed_ip', host(r.framedipaddress),
        'started_at', r.acctstarttime, 'stopped_at', r.acctstoptime, 'session_seconds', r.acctsessiontime,
        'input_octets', r.acctinputoctets, 'output_octets', r.acctoutputoctets,
        'terminate_cause', nullif(r.acctterminatecause, '')))
$$;

CREATE FUNCTION radbill_webhook_sessions_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT radbill_webhook_subscribed(ARRAY['session.started', 'session.stopped']) THEN
        RETURN NULL;
    END IF;
    PERFORM radbill_webhook_emit_many(array_agg(e.event), array_agg(c.operator_id),
                                      array_agg(radbill_webhook_session_json(n) || jsonb_build_object('customer_id', c.id)))
       FROM new_rows n JOIN customers c ON c.username = n.username
      CROSS JOIN LATERAL (VALUES ('session.started'), ('session.stopped')) AS e(event)
      WHERE e.event = 'session.started' OR n.acctstoptime IS NOT NULL;
    RETURN NULL;
END $$;

CREATE FUNCTION radbill_webhook_sessions_updated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT radbill_webhook_subscribed(ARRAY['session.started', 'session.stopped']) THEN
        RETURN NULL;
    END IF;
    PERFORM radbill_webhook_emit_many(array_agg('session.stopped'::text), array_agg(c.operator_id),
                                      array_agg(radbill_webhook_session_json(n) || jsonb_build_object('customer_id', c.id)))
       FROM new_rows n JOIN old_rows o ON o.radacctid = n.radacctid
       JOIN customers c ON c.username = n.username
      WHERE o.acctstoptime IS NULL AND n.acctstoptime IS NOT NULL;
    RETURN NULL;
END $$;

CREATE TRIGGER radacct_webhooks_inserted AFTER INSERT ON radacct REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION radbill_webhook_sessions_inserted();
CREATE TRIGGER radacct_webhooks_updated AFTER UPDATE ON radacct REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION radbill_webhook_sessions_updated();
