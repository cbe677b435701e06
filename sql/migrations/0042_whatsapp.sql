-- WhatsApp (Business Cloud API): per-operator credentials and per-event channel choice; the SMS history holds
-- both channels (one page), with the WhatsApp message id (wamid) and the platform's statuses.

-- One Cloud API sender per operator. The access token and the app secret are radbill.secretbox-sealed (context
-- "whatsapp_settings.<column>:<operator_id>"); the webhook verify token is kept as its sha256 only (it is
-- compared, never shown). A sub-operator's customers use the nearest settings up the operator path.
CREATE TABLE whatsapp_settings (
    operator_id         bigint PRIMARY KEY REFERENCES operators (id) ON DELETE CASCADE,
    base_url            text NOT NULL DEFAULT 'https://graph.facebook.com' CHECK (base_url ~ '^https?://[^\s]+$'),
    api_version         text NOT NULL DEFAULT 'v21.0' CHECK (api_version ~ '^v[0-9]{1,3}\.[0-9]{1,3}$'),
    phone_number_id     text NOT NULL CHECK (phone_number_id ~ '^[0-9]{1,30}$'),
    access_token        text,
    app_secret          text,
    verify_token_hash   bytea,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- a status webhook names its sender by phone_number_id: one operator per number
CREATE UNIQUE INDEX whatsapp_settings_phone ON whatsapp_settings (phone_number_id);
CREATE UNIQUE INDEX whatsapp_settings_verify ON whatsapp_settings (verify_token_hash)
    WHERE verify_token_hash IS NOT NULL;

-- Per event: which channel, and the approved template (name + language) WhatsApp sends. No row = SMS.
CREATE TABLE whatsapp_events (
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    event               text NOT NULL CHECK (event IN ('bill_generated', 'payment_received', 'account_suspended',
                                                       'account_activated', 'expiry_reminder', 'due_reminder')),
    channel             text NOT NULL DEFAULT 'sms' CHECK (channel IN ('sms', 'whatsapp', 'whatsapp_then_sms')),
    template_name       text NOT NULL DEFAULT '' CHECK (template_name ~ '^[a-z0-9_]*$' AND length(template_name) <= 512),
    language            text NOT NULL DEFAULT 'bn' CHECK (language IN ('bn', 'en')),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (operator_id, event),
    CHECK (channel = 'sms' OR template_name <> '')
);

-- Subtree only, both ways: a reseller never reads its parent's sender (not even the sealed token); the
-- scheduler reads them as the system when it sends for the reseller's customers.
SELECT radbill_tenant_policies(t, 'operator_id', 'subtree', 'subtree')
  FROM unnest(ARRAY['whatsapp_settings', 'whatsapp_events']::regclass[]) AS t;

-- History: one table for both channels. A WhatsApp message has no SMS gateway, segments or cost (Meta bills
-- the operator directly); `fallback_of` ties a fallback SMS to the WhatsApp message that failed, UNIQUE so an
-- event falls back at most once.
ALTER TABLE sms_messages ADD COLUMN channel text NOT NULL DEFAULT 'sms' CHECK (channel IN ('sms', 'whatsapp'));
ALTER TABLE sms_messages ADD COLUMN wamid text;
-- what a WhatsApp message sends: {name, language, parameters} (kept, so a retry sends the same values)
ALTER TABLE sms_messages ADD COLUMN wa_template jsonb;
ALTER TABLE sms_messages ADD COLUMN read_at timestamptz;
ALTER TABLE sms_messages ADD COLUMN fallback_of bigint UNIQUE REFERENCES sms_messages (id) ON DELETE RESTRICT;
ALTER TABLE sms_messages DROP CONSTRAINT sms_messages_status_check;
ALTER TABLE sms_messages ADD CONSTRAINT sms_messages_status_check
    CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed'));
CREATE UNIQUE INDEX sms_messages_wamid ON sms_messages (wamid) WHERE wamid IS NOT NULL;

-- WhatsApp messages go out per operator ('whatsapp:<operator_id>'), so one operator's slow or broken Cloud API
-- sender never holds back SMS or another operator's messages.
CREATE OR REPLACE FUNCTION radbill_outbox_destination(p_kind text, p_payload jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_kind IN ('disconnect', 'coa') THEN 'nas:' || coalesce(p_payload ->> 'nas_ip', '')
        WHEN p_kind = 'sms' THEN 'sms'
        WHEN p_kind = 'whatsapp' THEN 'whatsapp:' || coalesce(p_payload ->> 'sender_operator_id', '')
        ELSE p_kind || ':' || coalesce(p_payload ->> 'webhook_id', '')
    END
$$;

-- A WhatsApp message, like an SMS, is sent once per key for ever.
DROP INDEX outbox_dedupe_message;
CREATE UNIQUE INDEX outbox_dedupe_message ON outbox (dedupe_key) WHERE kind IN ('sms', 'webhook', 'whatsapp');

ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('disconnect', 'coa', 'sms', 'webhook', 'whatsapp'));
