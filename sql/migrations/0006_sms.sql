-- SMS: gateways (generic HTTP + a log gateway), event templates, per-operator settings (sending hours,
-- reminder offsets), messages tied to the outbox row that made them, broadcasts, and the SMS balance ledger.

ALTER TABLE sms_gateways DROP CONSTRAINT sms_gateways_kind_check;
ALTER TABLE sms_gateways ADD CONSTRAINT sms_gateways_kind_check CHECK (kind IN ('http', 'log'));
-- sha256 of the delivery-report token in the callback URL; the token itself is shown once
ALTER TABLE sms_gateways ADD COLUMN callback_token_hash bytea;
ALTER TABLE sms_gateways ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

ALTER TABLE sms_templates ADD CONSTRAINT sms_templates_event_check
    CHECK (event IN ('bill_generated', 'payment_received', 'account_suspended', 'account_activated',
                     'expiry_reminder', 'due_reminder'));

-- What one SMS segment costs this operator (set by its parent); the group admin is never charged.
ALTER TABLE operators ADD COLUMN sms_segment_price_minor bigint NOT NULL DEFAULT 25
    CHECK (sms_segment_price_minor >= 0);

-- Sending hours and reminder offsets; an operator without a row uses the nearest one up its path.
CREATE TABLE sms_settings (
    operator_id         bigint PRIMARY KEY REFERENCES operators (id) ON DELETE CASCADE,
    send_from           time NOT NULL DEFAULT '09:00',
    send_until          time NOT NULL DEFAULT '21:00',
    due_reminder_days   integer[] NOT NULL DEFAULT '{3,1}'
                        CHECK (cardinality(due_reminder_days) <= 5 AND 0 <= ALL (due_reminder_days)
                               AND 60 >= ALL (due_reminder_days)),
    expiry_reminder_days integer[] NOT NULL DEFAULT '{3,1}'
                        CHECK (cardinality(expiry_reminder_days) <= 5 AND 0 <= ALL (expiry_reminder_days)
                               AND 60 >= ALL (expiry_reminder_days)),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sms_broadcasts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    created_by          bigint REFERENCES accounts (id) ON DELETE RESTRICT,
    body                text NOT NULL,
    filters             jsonb NOT NULL DEFAULT '{}',
    recipients          integer NOT NULL CHECK (recipients >= 0),
    segments            integer NOT NULL CHECK (segments >= 0),
    cost_minor          bigint NOT NULL CHECK (cost_minor >= 0),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sms_broadcasts_operator ON sms_broadcasts (operator_id, created_at);

-- One message per outbox row (a retried handler finds its message instead of making another).
ALTER TABLE sms_messages ADD COLUMN outbox_id bigint UNIQUE;
ALTER TABLE sms_messages ADD COLUMN broadcast_id bigint REFERENCES sms_broadcasts (id) ON DELETE RESTRICT;
ALTER TABLE sms_messages ADD COLUMN cost_minor bigint NOT NULL DEFAULT 0 CHECK (cost_minor >= 0);
ALTER TABLE sms_messages ADD COLUMN charged boolean NOT NULL DEFAULT false;
ALTER TABLE sms_messages ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE sms_messages ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX sms_messages_provider_id ON sms_messages (gateway_id, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
CREATE INDEX sms_messages_broadcast ON sms_messages (broadcast_id, status) WHERE broadcast_id IS NOT NULL;
CREATE INDEX sms_messages_status ON sms_messages (operator_id, status, created_at);
CREATE UNIQUE INDEX sms_messages_broadcast_once ON sms_messages (broadcast_id, to_number)
    WHERE broadcast_id IS NOT NULL;

-- The SMS balance ledger: top-ups by the parent, a debit per message sent, a refund when it finally fails.
-- balance_after is operators.sms_balance right after the entry (the guarded UPDATE returns it).
CREATE TABLE sms_balance_entries (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    kind                text NOT NULL CHECK (kind IN ('topup', 'send', 'refund')),
    amount_minor        bigint NOT NULL CHECK (amount_minor <> 0),
    balance_after       bigint NOT NULL CHECK (balance_after >= 0),
    sms_message_id      bigint REFERENCES sms_messages (id) ON DELETE RESTRICT,
    created_by          bigint REFERENCES accounts (id) ON DELETE RESTRICT,
    memo                text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'send') = (amount_minor < 0))
);
CREATE INDEX sms_balance_entries_operator ON sms_balance_entries (operator_id, id);
CREATE UNIQUE INDEX sms_balance_entries_once ON sms_balance_entries (sms_message_id, kind)
    WHERE sms_message_id IS NOT NULL;
CREATE TRIGGER sms_balance_entries_append_only BEFORE UPDATE OR DELETE ON sms_balance_entries
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER sms_balance_entries_no_truncate BEFORE TRUNCATE ON sms_balance_entries
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
