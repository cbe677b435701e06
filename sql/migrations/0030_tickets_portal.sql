-- Issue 16, the parts below the portal's pages: support tickets, portal logins (sessions, one-time SMS codes,
-- the throttle's attempts) and the one-customer scope that row-level security enforces for the portal.

-- A support ticket: opened by the customer (portal) or by staff for the customer. operator_id is the customer's
-- operator (the tenant), so a ticket is scoped exactly like its customer.
CREATE TABLE tickets (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id),
    customer_id bigint NOT NULL REFERENCES customers (id),
    category text NOT NULL CHECK (category IN ('no_internet', 'slow', 'billing', 'relocation', 'other')),
    subject text NOT NULL CHECK (length(btrim(subject)) BETWEEN 1 AND 120),
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'closed')),
    assigned_to bigint REFERENCES accounts (id),
    opened_by bigint REFERENCES accounts (id),  -- the staff member who opened it; NULL: the customer did
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    closed_at timestamptz,
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE INDEX tickets_operator_status ON tickets (operator_id, status, updated_at DESC);
CREATE INDEX tickets_customer ON tickets (customer_id, created_at DESC);
CREATE INDEX tickets_assigned ON tickets (assigned_to, status) WHERE assigned_to IS NOT NULL;

-- The thread. operator_id and customer_id are copied from the ticket so row-level security (staff and
-- one-customer scopes alike) needs no join.
CREATE TABLE ticket_messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES tickets (id),
    operator_id bigint NOT NULL REFERENCES operators (id),
    customer_id bigint NOT NULL REFERENCES customers (id),
    author_account_id bigint REFERENCES accounts (id),  -- NULL: the customer wrote it
    body text NOT NULL CHECK (length(btrim(body)) BETWEEN 1 AND 4000),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id, id);

-- At most one photo per message. The bytes live outside any web root in var/uploads/<sha256>; the type was
-- decided from the file's magic bytes, never from the name or the browser's claim.
CREATE TABLE ticket_attachments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id bigint NOT NULL UNIQUE REFERENCES ticket_messages (id),
    operator_id bigint NOT NULL REFERENCES operators (id),
    customer_id bigint NOT NULL REFERENCES customers (id),
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    size_bytes integer NOT NULL CHECK (size_bytes BETWEEN 1 AND 2097152),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Portal sessions: the customer's own, never an admin session. Only the token's sha256 is stored.
CREATE TABLE portal_sessions (
    id_hash bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    operator_id bigint NOT NULL REFERENCES operators (id),
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    csrf_token text NOT NULL,
    method text NOT NULL CHECK (method IN ('password', 'otp')),
    ip inet,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX portal_sessions_customer ON portal_sessions (customer_id);
CREATE INDEX portal_sessions_expiry ON portal_sessions (expires_at);

-- One-time SMS codes for the portal login (sha256 of customer id + code; 6 digits, 5 minutes, 5 tries).
CREATE TABLE portal_otps (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id),
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL CHECK (length(code_hash) = 32),
    tries integer NOT NULL DEFAULT 0 CHECK (tries >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX portal_otps_customer ON portal_otps (customer_id, created_at DESC);

-- Every portal login step that checks a secret or sends a code, for the throttle (no operator: an unknown
-- username or number has none; like login_attempts, it is the system's table, not a tenant's).
CREATE TABLE portal_login_attempts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('password', 'otp_send', 'otp_verify')),
    login text NOT NULL CHECK (length(login) <= 64),  -- the username or mobile number as typed (normalised)
    ip inet,
    succeeded boolean NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portal_login_attempts_login ON portal_login_attempts (kind, lower(login), at);
CREATE INDEX portal_login_attempts_ip ON portal_login_attempts (kind, ip, at);

SELECT radbill_tenant_policies(t, 'operator_id', 'subtree', 'subtree')
  FROM unnest(ARRAY['tickets', 'ticket_messages', 'ticket_attachments', 'portal_sessions',
                    'portal_otps']::regclass[]) AS t;

-- ---- the one-customer scope ----------------------------------------------------------------------------
-- The portal runs as radbill_app with radbill.scope_path EMPTY (so every staff policy matches nothing) and
-- radbill.scope_customer = the customer's id. The policies below are permissive ones of their own, so a customer
-- reaches exactly: rows naming them (their portal tables also for writing), the catalogue of their operator's
-- line (packages, the ISP's details, gateways) for reading, and the audit trail and outbox for appending rows of
-- their own operator. Nothing else: no staff, no messages, no neighbour.
--
-- Why not RESTRICTIVE policies narrowing a staff scope: Postgres cannot know the setting when it plans, and
-- estimated `setting IS NULL OR customer_id = setting` at 0.5% of the rows (measured: 20,000 customers planned
-- as 101), which would turn the group admin's big reads into nested loops. A permissive extra arm that is false
-- for staff only ever raises an estimate, by the share of one customer.
CREATE FUNCTION radbill_scope_customer() RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN s IS NULL OR s = '' THEN NULL ELSE s::bigint END
      FROM current_setting('radbill.scope_customer', true) AS s
$$;

-- The scope customer's operator and its ancestors ('{}' when no customer is set). SECURITY DEFINER: the
-- customer's own policies would hide the operator rows it reads.
CREATE FUNCTION radbill_customer_lineage() RETURNS bigint[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    me bigint := radbill_scope_customer();
BEGIN
    IF me IS NULL THEN
        RETURN '{}';
    END IF;
    RETURN (SELECT coalesce(array_agg(a.id), '{}') FROM customers c JOIN operators o ON o.id = c.operator_id
              JOIN operators a ON a.path @> o.path WHERE c.id = me);
END $$;

CREATE FUNCTION radbill_customer_policies(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    me text := '(SELECT radbill_scope_customer())';
    line text := 'ANY ((SELECT radbill_customer_lineage())::bigint[])';
    catalogue regclass[] := ARRAY['packages', 'billing_profiles', 'zones', 'vat_profiles', 'payment_gateways',
                                  'package_assignments', 'billing_profile_assignments']::regclass[];
    portal_writes regclass[] := ARRAY['tickets', 'ticket_messages', 'ticket_attachments', 'portal_sessions',
                                      'portal_otps', 'payment_intents']::regclass[];
    own text;
BEGIN
    EXECUTE format('DROP POLICY IF EXISTS customer_read ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS customer_write ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS customer_append ON %s', tbl);
    IF tbl = 'customers'::regclass THEN
        own := format('id = %s', me);
    ELSIF tbl = 'operators'::regclass THEN
        own := format('id = %s', line);
    ELSIF tbl = ANY (catalogue) THEN
        own := format('operator_id = %s', line);
    ELSIF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = 'customer_id' AND NOT attisdropped) THEN
        own := format('customer_id = %s', me);
    END IF;
    IF own IS NOT NULL THEN
        EXECUTE format('CREATE POLICY customer_read ON %s FOR SELECT TO radbill_app USING (%s)', tbl, own);
    END IF;
    IF tbl = ANY (portal_writes) THEN
        EXECUTE format('CREATE POLICY customer_write ON %s FOR ALL TO radbill_app USING (%s) WITH CHECK (%s)',
                       tbl, own, own);
    ELSIF tbl IN ('audit_log'::regclass, 'outbox'::regclass) THEN
        EXECUTE format('CREATE POLICY customer_append ON %s FOR INSERT TO radbill_app WITH CHECK'
                       ' (operator_id = (SELECT operator_id FROM customers WHERE id = %s))', tbl, me);
    END IF;
END $$;

SELECT radbill_customer_policies(t)
  FROM unnest(ARRAY['customers', 'operators', 'packages', 'billing_profiles', 'zones', 'vat_profiles',
                    'payment_gateways', 'package_assignments', 'billing_profile_assignments', 'bills', 'payments',
                    'ledger_accounts', 'pay_links', 'payment_intents', 'tickets', 'ticket_messages',
                    'ticket_attachments', 'portal_sessions', 'portal_otps', 'audit_log', 'outbox']::regclass[]) AS t;

-- Two new SMS events: a staff reply to a ticket, and the portal's one-time login code (radbill/sms/text.py).
ALTER TABLE sms_templates DROP CONSTRAINT sms_templates_event_check;
ALTER TABLE sms_templates ADD CONSTRAINT sms_templates_event_check
    CHECK (event IN ('bill_generated', 'payment_received', 'account_suspended', 'account_activated',
                     'expiry_reminder', 'due_reminder', 'ticket_reply', 'portal_otp'));

-- The walled garden's address range (the router's IP pool named by suspended_pool), so the settings page can
-- generate the router's address list and pool from it (optional: RADIUS needs only the pool's name).
ALTER TABLE operators ADD COLUMN suspended_network cidr CHECK (family(suspended_network) = 4);
