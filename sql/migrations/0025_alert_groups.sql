-- Alerts that help (issue 14 item 5): identical alerts collapse into one group with a count and first/last time,
-- and a group can be acknowledged. Every occurrence is still an audit_log row with action 'alert' (the customer's
-- timeline keeps it); this table is the list staff work from.

-- One row per (operator, kind, cause): the operator is the one whose thing needs fixing (the router's owner for a
-- router alert, the sending operator for an SMS alert); cause is what makes two occurrences the same (a router's
-- address, a provider's error). An occurrence after the acknowledgement reopens the group and starts its count
-- again (radbill.services.alerts.raise_alert).
CREATE TABLE alerts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id),
    kind text NOT NULL CHECK (kind IN ('sms_no_gateway', 'sms_no_balance', 'sms_failed', 'sms_refused',
                                       'router_unreachable', 'router_refused', 'delivery_failed')),
    cause text NOT NULL DEFAULT '' CHECK (length(cause) <= 200),
    message text NOT NULL,                       -- the latest occurrence's sentence
    subject jsonb NOT NULL DEFAULT '{}',         -- the latest occurrence's customer, router, outbox row
    occurrences integer NOT NULL DEFAULT 1 CHECK (occurrences > 0),  -- since the group was (re)opened
    first_at timestamptz NOT NULL DEFAULT now(), -- when the group was (re)opened
    last_at timestamptz NOT NULL DEFAULT now(),
    acknowledged_at timestamptz,
    acknowledged_by bigint REFERENCES accounts (id),
    UNIQUE (operator_id, kind, cause),
    CHECK (acknowledged_by IS NULL OR acknowledged_at IS NOT NULL)
);
CREATE INDEX alerts_open ON alerts (last_at DESC) WHERE acknowledged_at IS NULL;
CREATE INDEX alerts_operator ON alerts (operator_id, last_at DESC);

SELECT radbill_tenant_policies('alerts', 'operator_id', 'subtree', 'subtree');
