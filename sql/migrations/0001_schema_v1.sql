-- Schema v1: the whole domain of DESIGN.md's data model.
-- Money: bigint minor units (poisha for BDT). Time: timestamptz, UTC. Rules the database can know are
-- constraints here, not application code.

CREATE EXTENSION IF NOT EXISTS ltree;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Raise from a trigger when a table is append-only (ledger, audit log).
CREATE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: record a correcting entry instead of changing history', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

---------------------------------------------------------------------------------------------------
-- Tenancy: group admin -> operators -> sub-operators. `path` is maintained by triggers below.
---------------------------------------------------------------------------------------------------
CREATE TABLE operators (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id           bigint REFERENCES operators (id) ON DELETE RESTRICT,
    kind                text NOT NULL CHECK (kind IN ('group_admin', 'operator', 'sub_operator')),
    path                ltree NOT NULL DEFAULT ''::ltree,
    name                text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 120),
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    timezone            text NOT NULL DEFAULT 'Asia/Dhaka',
    currency            char(3) NOT NULL DEFAULT 'BDT' CHECK (currency ~ '^[A-Z]{3}$'),
    -- ISP information printed on receipts and invoices
    business_name       text,
    address             text,
    phone               text,
    email               text,
    logo                bytea CHECK (octet_length(logo) <= 524288),
    logo_content_type   text CHECK (logo_content_type IN ('image/png', 'image/jpeg', 'image/webp')),
    -- reseller balance with the parent operator; the CHECK is the credit-limit guard
    balance_minor       bigint NOT NULL DEFAULT 0,
    credit_limit_minor  bigint NOT NULL DEFAULT 0 CHECK (credit_limit_minor >= 0),
    sms_balance         bigint NOT NULL DEFAULT 0 CHECK (sms_balance >= 0),
    vat_profile_id      bigint,
    -- walled garden for suspended/expired customers (NULL pool: reject them instead)
    suspended_pool      text CHECK (suspended_pool ~ '^[A-Za-z0-9_.-]{1,64}$'),
    suspended_rate_limit text NOT NULL DEFAULT '256k/256k',
    suspended_session_timeout integer NOT NULL DEFAULT 300 CHECK (suspended_session_timeout BETWEEN 30 AND 86400),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT operators_credit_limit CHECK (balance_minor >= -credit_limit_minor),
    CONSTRAINT operators_root_has_no_parent CHECK ((kind = 'group_admin') = (parent_id IS NULL))
);
CREATE INDEX operators_path_gist ON operators USING gist (path);
CREATE INDEX operators_parent ON operators (parent_id);
CREATE TRIGGER operators_touch BEFORE UPDATE ON operators FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- Compute `path` from the parent on every top-level write (a supplied path is ignored); the cascade
-- below writes descendants' paths from inside this trigger (depth > 1), which are trusted.
CREATE FUNCTION operators_set_path() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent operators%ROWTYPE;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.kind <> OLD.kind THEN
        RAISE EXCEPTION 'an operator''s kind cannot change (create a new one instead)' USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND pg_trigger_depth() > 1 THEN
        RETURN NEW;
    END IF;
    IF NEW.parent_id IS NULL THEN
        NEW.path := text2ltree(NEW.id::text);
        RETURN NEW;
    END IF;
    SELECT * INTO parent FROM operators WHERE id = NEW.parent_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'parent operator % does not exist', NEW.parent_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF (NEW.kind = 'operator' AND parent.kind <> 'group_admin')
       OR (NEW.kind = 'sub_operator' AND parent.kind <> 'operator') THEN
        RAISE EXCEPTION 'a % cannot be placed under a %', NEW.kind, parent.kind USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND parent.path <@ OLD.path THEN
        RAISE EXCEPTION 'an operator cannot be moved under its own subtree' USING ERRCODE = 'check_violation';
    END IF;
    NEW.path := parent.path || text2ltree(NEW.id::text);
    RETURN NEW;
END $$;
CREATE TRIGGER operators_path BEFORE INSERT OR UPDATE ON operators
    FOR EACH ROW EXECUTE FUNCTION operators_set_path();

CREATE FUNCTION operators_cascade_path() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE operators SET path = NEW.path || subpath(path, nlevel(OLD.path))
     WHERE path <@ OLD.path AND id <> NEW.id;
    RETURN NULL;
END $$;
-- not `UPDATE OF path`: that fires only when the statement names the column, and the path is set by a trigger
CREATE TRIGGER operators_path_cascade AFTER UPDATE ON operators
    FOR EACH ROW WHEN (OLD.path IS DISTINCT FROM NEW.path AND pg_trigger_depth() = 0)
    EXECUTE FUNCTION operators_cascade_path();

---------------------------------------------------------------------------------------------------
-- Logins
---------------------------------------------------------------------------------------------------
CREATE TABLE accounts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    role                text NOT NULL CHECK (role IN ('group_admin', 'operator', 'sub_operator', 'manager')),
    username            text NOT NULL CHECK (username ~ '^[A-Za-z0-9._@-]{3,64}$'),
    password_hash       text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    must_change_password boolean NOT NULL DEFAULT true,
    full_name           text NOT NULL DEFAULT '',
    email               text,
    phone               text,
    permissions         text[] NOT NULL DEFAULT '{}',
    totp_secret         text,
    totp_enabled        boolean NOT NULL DEFAULT false,
    totp_last_step      bigint,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    last_login_at       timestamptz,
    password_changed_at timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT totp_enabled OR totp_secret IS NOT NULL),
    CHECK (role = 'manager' OR permissions = '{}')
);
CREATE UNIQUE INDEX accounts_username ON accounts (lower(username));
CREATE INDEX accounts_operator ON accounts (operator_id);
CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- A login's role must match its operator's kind; managers are staff of an operator (or the group admin).
CREATE FUNCTION accounts_check_role() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    op_kind text;
BEGIN
    SELECT kind INTO op_kind FROM operators WHERE id = NEW.operator_id;
    IF (NEW.role = 'manager' AND op_kind NOT IN ('group_admin', 'operator'))
       OR (NEW.role <> 'manager' AND NEW.role <> op_kind) THEN
        RAISE EXCEPTION 'a % login cannot belong to a %', NEW.role, op_kind USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER accounts_role BEFORE INSERT OR UPDATE OF role, operator_id ON accounts
    FOR EACH ROW EXECUTE FUNCTION accounts_check_role();

CREATE TABLE admin_sessions (
    id_hash             bytea PRIMARY KEY,          -- sha256 of the cookie value; the value itself is never stored
    account_id          bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    csrf_token          text NOT NULL,
    stage               text NOT NULL DEFAULT 'full' CHECK (stage IN ('totp', 'change_password', 'full')),
    ip                  inet,
    user_agent          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_seen_at        timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL
);
CREATE INDEX admin_sessions_account ON admin_sessions (account_id);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);

CREATE TABLE login_attempts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username            text NOT NULL,
    ip                  inet,
    succeeded           boolean NOT NULL,
    at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_username ON login_attempts (lower(username), at);
CREATE INDEX login_attempts_ip ON login_attempts (ip, at);

---------------------------------------------------------------------------------------------------
-- What operators sell
---------------------------------------------------------------------------------------------------
CREATE TABLE vat_profiles (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    name                text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 80),
    rate_basis_points   integer NOT NULL CHECK (rate_basis_points BETWEEN 0 AND 10000),
    price_includes_vat  boolean NOT NULL DEFAULT false,
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (operator_id, name)
);
ALTER TABLE operators ADD CONSTRAINT operators_vat_profile
    FOREIGN KEY (vat_profile_id) REFERENCES vat_profiles (id) ON DELETE SET NULL;

CREATE TABLE zones (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    name                text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 80),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX zones_name ON zones (operator_id, lower(name));

CREATE TABLE packages (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    name                text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 80),
    download_kbps       integer NOT NULL CHECK (download_kbps > 0),
    upload_kbps         integer NOT NULL CHECK (upload_kbps > 0),
    burst_download_kbps integer CHECK (burst_download_kbps > 0),
    burst_upload_kbps   integer CHECK (burst_upload_kbps > 0),
    burst_threshold_download_kbps integer CHECK (burst_threshold_download_kbps > 0),
    burst_threshold_upload_kbps   integer CHECK (burst_threshold_upload_kbps > 0),
    burst_time_seconds  integer CHECK (burst_time_seconds BETWEEN 1 AND 3600),
    price_minor         bigint NOT NULL CHECK (price_minor >= 0),
    validity_days       integer NOT NULL DEFAULT 30 CHECK (validity_days BETWEEN 1 AND 3660),
    ip_pool             text CHECK (ip_pool ~ '^[A-Za-z0-9_.-]{1,64}$'),
    data_cap_bytes      bigint CHECK (data_cap_bytes > 0),
    throttled_download_kbps integer CHECK (throttled_download_kbps > 0),
    throttled_upload_kbps   integer CHECK (throttled_upload_kbps > 0),
    connection_types    text[] NOT NULL DEFAULT '{pppoe,hotspot,static,other}'
                        CHECK (connection_types <@ '{pppoe,hotspot,static,other}' AND cardinality(connection_types) > 0),
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (data_cap_bytes IS NOT NULL OR throttled_download_kbps IS NULL),
    CHECK ((throttled_download_kbps IS NULL) = (throttled_upload_kbps IS NULL)),
    CHECK ((burst_download_kbps IS NULL) = (burst_upload_kbps IS NULL))
);
CREATE UNIQUE INDEX packages_name ON packages (operator_id, lower(name));
CREATE TRIGGER packages_touch BEFORE UPDATE ON packages FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE package_assignments (
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    package_id          bigint NOT NULL REFERENCES packages (id) ON DELETE RESTRICT,
    wholesale_price_minor bigint NOT NULL CHECK (wholesale_price_minor >= 0),
    retail_price_minor  bigint CHECK (retail_price_minor >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (operator_id, package_id)
);
CREATE INDEX package_assignments_package ON package_assignments (package_id);

CREATE TABLE billing_profiles (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    name                text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 80),
    cycle_kind          text NOT NULL CHECK (cycle_kind IN ('fixed_day', 'validity_days')),
    billing_day         smallint CHECK (billing_day BETWEEN 1 AND 31),
    validity_days       integer CHECK (validity_days BETWEEN 1 AND 3660),
    due_days            integer NOT NULL DEFAULT 0 CHECK (due_days BETWEEN 0 AND 365),
    grace_days          integer NOT NULL DEFAULT 0 CHECK (grace_days BETWEEN 0 AND 365),
    auto_suspend        boolean NOT NULL DEFAULT true,
    billing_type        text NOT NULL CHECK (billing_type IN ('prepaid', 'postpaid', 'free')),
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((cycle_kind = 'fixed_day') = (billing_day IS NOT NULL)),
    CHECK ((cycle_kind = 'validity_days') = (validity_days IS NOT NULL))
);
CREATE UNIQUE INDEX billing_profiles_name ON billing_profiles (operator_id, lower(name));

CREATE TABLE billing_profile_assignments (
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    billing_profile_id  bigint NOT NULL REFERENCES billing_profiles (id) ON DELETE RESTRICT,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (operator_id, billing_profile_id)
);

---------------------------------------------------------------------------------------------------
-- Customers: the RADIUS subscribers
---------------------------------------------------------------------------------------------------
CREATE TABLE customers (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    username            text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    radius_password     text NOT NULL CHECK (length(radius_password) BETWEEN 1 AND 128),
    name                text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 120),
    mobile              text CHECK (mobile ~ '^\+[1-9][0-9]{6,14}$'),
    email               text,
    address             text,
    national_id         text,
    zone_id             bigint REFERENCES zones (id) ON DELETE RESTRICT,
    connection_type     text NOT NULL CHECK (connection_type IN ('pppoe', 'hotspot', 'static', 'other')),
    static_ip           inet UNIQUE CHECK (family(static_ip) = 4 AND masklen(static_ip) = 32),
    mac_address         macaddr,
    package_id          bigint NOT NULL REFERENCES packages (id) ON DELETE RESTRICT,
    billing_profile_id  bigint NOT NULL REFERENCES billing_profiles (id) ON DELETE RESTRICT,
    custom_price_minor  bigint CHECK (custom_price_minor >= 0),
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'disabled')),
    status_reason       text,
    status_changed_at   timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz,
    simultaneous_use    integer CHECK (simultaneous_use BETWEEN 1 AND 100),
    billing_anchor      date,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (connection_type <> 'static' OR static_ip IS NOT NULL)
);
CREATE INDEX customers_operator ON customers (operator_id, status);
CREATE INDEX customers_package ON customers (package_id);
CREATE INDEX customers_profile ON customers (billing_profile_id);
CREATE INDEX customers_zone ON customers (zone_id);
CREATE INDEX customers_mobile ON customers (mobile);
CREATE INDEX customers_expires ON customers (expires_at) WHERE status = 'active';
CREATE INDEX customers_search ON customers USING gin ((name || ' ' || username || ' ' || coalesce(mobile, '')) gin_trgm_ops);
CREATE TRIGGER customers_touch BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

---------------------------------------------------------------------------------------------------
-- Routers (NAS). Columns id..description keep FreeRADIUS's stock `nas` table shape (rlm_sql clients).
---------------------------------------------------------------------------------------------------
CREATE TABLE nas (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    nasname             text NOT NULL UNIQUE CHECK (nasname::inet IS NOT NULL AND masklen(nasname::inet) IN (32, 128)),
    shortname           text NOT NULL CHECK (shortname ~ '^[A-Za-z0-9_.-]{1,64}$'),
    type                text NOT NULL DEFAULT 'mikrotik' CHECK (type IN ('mikrotik', 'other')),
    ports               integer,
    secret              text NOT NULL CHECK (length(secret) >= 16 AND secret !~ '[\s"\\]'),
    server              text,
    community           text,
    description         text,
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    coa_port            integer NOT NULL DEFAULT 3799 CHECK (coa_port BETWEEN 1 AND 65535),
    require_message_authenticator boolean NOT NULL DEFAULT true,
    api_host            text,
    api_port            integer CHECK (api_port BETWEEN 1 AND 65535),
    api_username        text,
    api_password        text,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX nas_operator ON nas (operator_id);
CREATE TRIGGER nas_touch BEFORE UPDATE ON nas FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

---------------------------------------------------------------------------------------------------
-- Money
---------------------------------------------------------------------------------------------------
CREATE TABLE bills (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id         bigint NOT NULL REFERENCES customers (id) ON DELETE RESTRICT,
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    package_id          bigint REFERENCES packages (id) ON DELETE RESTRICT,
    period_start        date NOT NULL,
    period_end          date NOT NULL,
    currency            char(3) NOT NULL,
    amount_minor        bigint NOT NULL CHECK (amount_minor >= 0),
    vat_minor           bigint NOT NULL DEFAULT 0 CHECK (vat_minor >= 0),
    total_minor         bigint NOT NULL CHECK (total_minor >= 0),
    paid_minor          bigint NOT NULL DEFAULT 0,
    status              text NOT NULL DEFAULT 'unpaid' CHECK (status IN ('unpaid', 'partial', 'paid', 'void')),
    issued_at           timestamptz NOT NULL DEFAULT now(),
    due_at              timestamptz NOT NULL,
    paid_at             timestamptz,
    note                text,
    UNIQUE (customer_id, period_start),
    CHECK (period_end > period_start),
    CHECK (paid_minor BETWEEN 0 AND total_minor),
    CHECK (status <> 'paid' OR paid_minor = total_minor)
);
CREATE INDEX bills_operator_status ON bills (operator_id, status, due_at);
CREATE INDEX bills_open ON bills (due_at) WHERE status IN ('unpaid', 'partial');

CREATE TABLE payments (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id         bigint NOT NULL REFERENCES customers (id) ON DELETE RESTRICT,
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    bill_id             bigint REFERENCES bills (id) ON DELETE RESTRICT,
    amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
    currency            char(3) NOT NULL,
    method              text NOT NULL CHECK (method IN ('cash', 'advance', 'bank', 'mobile_wallet', 'gateway')),
    txn_id              text,
    idempotency_key     text UNIQUE,
    collected_by        bigint REFERENCES accounts (id) ON DELETE RESTRICT,
    received_at         timestamptz NOT NULL DEFAULT now(),
    note                text,
    UNIQUE (method, txn_id)
);
CREATE INDEX payments_operator_time ON payments (operator_id, received_at);
CREATE INDEX payments_customer ON payments (customer_id, received_at);
CREATE INDEX payments_bill ON payments (bill_id);

-- Double-entry ledger. Every money change is one transaction (txn_id) of entries summing to zero per
-- currency. Accounts: a customer's advance wallet, an operator's balance with its parent, cash, revenue...
CREATE TABLE ledger_accounts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                text NOT NULL CHECK (kind IN ('customer_advance', 'customer_receivable',
                                                      'operator_balance', 'cash', 'revenue', 'vat_payable',
                                                      'wholesale')),
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    customer_id         bigint REFERENCES customers (id) ON DELETE RESTRICT,
    currency            char(3) NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (kind, operator_id, customer_id, currency),
    CHECK ((kind IN ('customer_advance', 'customer_receivable')) = (customer_id IS NOT NULL))
);

CREATE TABLE ledger_entries (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txn_id              uuid NOT NULL,
    account_id          bigint NOT NULL REFERENCES ledger_accounts (id) ON DELETE RESTRICT,
    amount_minor        bigint NOT NULL CHECK (amount_minor <> 0),
    currency            char(3) NOT NULL,
    kind                text NOT NULL,
    memo                text,
    bill_id             bigint REFERENCES bills (id) ON DELETE RESTRICT,
    payment_id          bigint REFERENCES payments (id) ON DELETE RESTRICT,
    created_by          bigint REFERENCES accounts (id) ON DELETE RESTRICT,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_txn ON ledger_entries (txn_id);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, id);
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unbalanced text;
BEGIN
    SELECT currency INTO unbalanced FROM ledger_entries
     WHERE txn_id = NEW.txn_id GROUP BY currency HAVING sum(amount_minor) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance in %', NEW.txn_id, unbalanced
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();

---------------------------------------------------------------------------------------------------
-- FreeRADIUS tables, column-compatible with the stock PostgreSQL schema (rlm_sql's stock queries).
---------------------------------------------------------------------------------------------------
CREATE TABLE radacct (
    radacctid           bigserial PRIMARY KEY,
    acctsessionid       text NOT NULL,
    acctuniqueid        text NOT NULL UNIQUE,
    username            text,
    realm               text,
    nasipaddress        inet NOT NULL,
    nasportid           text,
    nasporttype         text,
    acctstarttime       timestamptz,
    acctupdatetime      timestamptz,
    acctstoptime        timestamptz,
    acctinterval        bigint,
    acctsessiontime     bigint,
    acctauthentic       text,
    connectinfo_start   text,
    connectinfo_stop    text,
    acctinputoctets     bigint,
    acctoutputoctets    bigint,
    calledstationid     text,
    callingstationid    text,
    acctterminatecause  text,
    servicetype         text,
    framedprotocol      text,
    framedipaddress     inet,
    framedipv6address   inet,
    framedipv6prefix    inet,
    framedinterfaceid   text,
    delegatedipv6prefix inet,
    class               text
);
CREATE INDEX radacct_active_session_idx ON radacct (acctuniqueid) WHERE acctstoptime IS NULL;
CREATE INDEX radacct_bulk_close ON radacct (nasipaddress, acctstarttime) WHERE acctstoptime IS NULL;
CREATE INDEX radacct_start_user_idx ON radacct (acctstarttime, username);
CREATE INDEX radacct_open_user ON radacct (username) WHERE acctstoptime IS NULL;
CREATE INDEX radacct_class_idx ON radacct (class);

CREATE TABLE radpostauth (
    id                  bigserial PRIMARY KEY,
    username            text NOT NULL,
    pass                text,
    reply               text,
    calledstationid     text,
    callingstationid    text,
    authdate            timestamptz NOT NULL DEFAULT now(),
    class               text,
    reason              text,
    nasipaddress        inet
);
CREATE INDEX radpostauth_username_idx ON radpostauth (username, authdate);
CREATE INDEX radpostauth_authdate ON radpostauth (authdate);

---------------------------------------------------------------------------------------------------
-- Side effects and history
---------------------------------------------------------------------------------------------------
CREATE TABLE outbox (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                text NOT NULL CHECK (kind IN ('disconnect', 'coa', 'sms', 'webhook')),
    operator_id         bigint REFERENCES operators (id) ON DELETE SET NULL,
    payload             jsonb NOT NULL,
    dedupe_key          text UNIQUE,
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    last_error          text,
    result              jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    done_at             timestamptz,
    failed_at           timestamptz
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE done_at IS NULL AND failed_at IS NULL;

CREATE TABLE sms_gateways (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    name                text NOT NULL,
    kind                text NOT NULL DEFAULT 'http' CHECK (kind IN ('http')),
    config              jsonb NOT NULL DEFAULT '{}',
    secret              text,
    is_default          boolean NOT NULL DEFAULT false,
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (operator_id, name)
);
CREATE UNIQUE INDEX sms_gateways_one_default ON sms_gateways (operator_id) WHERE is_default;

CREATE TABLE sms_templates (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    event               text NOT NULL,
    body                text NOT NULL CHECK (length(body) BETWEEN 1 AND 1600),
    enabled             boolean NOT NULL DEFAULT true,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (operator_id, event)
);

CREATE TABLE sms_messages (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    customer_id         bigint REFERENCES customers (id) ON DELETE SET NULL,
    gateway_id          bigint REFERENCES sms_gateways (id) ON DELETE SET NULL,
    to_number           text NOT NULL CHECK (to_number ~ '^\+[1-9][0-9]{6,14}$'),
    body                text NOT NULL,
    segments            integer NOT NULL DEFAULT 1 CHECK (segments > 0),
    event               text,
    status              text NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'sent', 'delivered', 'failed')),
    provider_message_id text,
    error               text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    delivered_at        timestamptz
);
CREATE INDEX sms_messages_operator_time ON sms_messages (operator_id, created_at);
CREATE INDEX sms_messages_customer ON sms_messages (customer_id);

CREATE TABLE audit_log (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at                  timestamptz NOT NULL DEFAULT now(),
    account_id          bigint REFERENCES accounts (id) ON DELETE RESTRICT,
    operator_id         bigint REFERENCES operators (id) ON DELETE RESTRICT,
    action              text NOT NULL,
    object_kind         text NOT NULL,
    object_id           bigint,
    detail              jsonb NOT NULL DEFAULT '{}',
    ip                  inet
);
CREATE INDEX audit_log_object ON audit_log (object_kind, object_id, at);
CREATE INDEX audit_log_operator ON audit_log (operator_id, at);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

---------------------------------------------------------------------------------------------------
-- Live policy: NOTIFY radbill_policy with the username whenever a customer's RADIUS policy may change.
-- The RADIUS module LISTENs and refreshes just that key; '*' would ask for a full reload.
---------------------------------------------------------------------------------------------------
CREATE FUNCTION notify_policy_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('radbill_policy', OLD.username);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.username <> OLD.username) THEN
        PERFORM pg_notify('radbill_policy', NEW.username);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER customers_notify_policy
    AFTER INSERT OR DELETE OR UPDATE OF username, radius_password, status, expires_at, package_id,
        mac_address, static_ip, simultaneous_use, connection_type, operator_id
    ON customers FOR EACH ROW EXECUTE FUNCTION notify_policy_customer();

CREATE FUNCTION notify_policy_package() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('radbill_policy', c.username) FROM customers c WHERE c.package_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER packages_notify_policy
    AFTER UPDATE ON packages FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION notify_policy_package();

CREATE FUNCTION notify_policy_operator() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('radbill_policy', c.username)
       FROM customers c JOIN operators o ON o.id = c.operator_id
      WHERE o.path <@ NEW.path;
    RETURN NULL;
END $$;
CREATE TRIGGER operators_notify_policy
    AFTER UPDATE OF status, suspended_pool, suspended_rate_limit, suspended_session_timeout ON operators
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.suspended_pool IS DISTINCT FROM NEW.suspended_pool
          OR OLD.suspended_rate_limit IS DISTINCT FROM NEW.suspended_rate_limit
          OR OLD.suspended_session_timeout IS DISTINCT FROM NEW.suspended_session_timeout)
    EXECUTE FUNCTION notify_policy_operator();

-- Routers: FreeRADIUS's client list follows the nas table.
CREATE FUNCTION notify_nas_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('radbill_nas', coalesce(NEW.nasname, OLD.nasname));
    RETURN NULL;
END $$;
CREATE TRIGGER nas_notify AFTER INSERT OR UPDATE OR DELETE ON nas
    FOR EACH ROW EXECUTE FUNCTION notify_nas_change();
