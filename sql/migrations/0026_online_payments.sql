-- Online payments (issue 15): gateway accounts, payment intents, the log of every callback/IPN/redirect/query,
-- refunds, and pay links. One payment per (gateway, transaction id), enforced here.

-- An operator's (or the group admin's) merchant account at a gateway. Sub-operators' customers pay through the
-- nearest ancestor's enabled gateway (lineage read), so a sub-operator sees that it exists, never its secrets.
CREATE TABLE payment_gateways (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id),
    kind text NOT NULL CHECK (kind IN ('bkash', 'sslcommerz', 'nagad')),
    label text NOT NULL CHECK (length(label) BETWEEN 1 AND 80),
    mode text NOT NULL DEFAULT 'sandbox' CHECK (mode IN ('sandbox', 'live')),
    base_url text NOT NULL CHECK (base_url ~ '^https?://'),  -- the API root; demo mode points at the local fake
    -- radbill.secretbox-sealed JSON of the kind's credentials (app key/secret, username/password, store id/pass),
    -- context 'payment_gateways.credentials:<id>'; never shown again after it is entered
    credentials_sealed text,
    fee_basis_points integer NOT NULL DEFAULT 0 CHECK (fee_basis_points BETWEEN 0 AND 10000),
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (operator_id, label)
);

-- One attempt to pay: created before the customer is sent to the gateway, settled at most once.
CREATE TABLE payment_intents (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reference text NOT NULL UNIQUE CHECK (length(reference) BETWEEN 16 AND 64),  -- our merchant reference
    operator_id bigint NOT NULL REFERENCES operators (id),  -- the customer's operator (the tenant)
    customer_id bigint NOT NULL REFERENCES customers (id),
    bill_id bigint REFERENCES bills (id),                   -- NULL: an advance top-up
    gateway_id bigint NOT NULL REFERENCES payment_gateways (id),
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    currency character(3) NOT NULL,
    status text NOT NULL DEFAULT 'created'
        CHECK (status IN ('created', 'pending', 'paid', 'failed', 'expired')),
    gateway_payment_id text,   -- the gateway's id for this attempt (bKash paymentID, SSLCommerz sessionkey)
    gateway_txn_id text,       -- the final transaction id, once verified
    payment_id bigint UNIQUE REFERENCES payments (id),
    origin text NOT NULL DEFAULT 'pay_link' CHECK (origin IN ('pay_link', 'portal', 'staff')),
    created_by bigint REFERENCES accounts (id),             -- staff who started it, if any
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    settled_at timestamptz,
    last_checked_at timestamptz,
    check_count integer NOT NULL DEFAULT 0,
    refunded_minor bigint NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
    UNIQUE (gateway_id, gateway_txn_id),
    CHECK ((status = 'paid') = (payment_id IS NOT NULL))
);
CREATE INDEX payment_intents_open ON payment_intents (last_checked_at NULLS FIRST)
    WHERE status IN ('created', 'pending');
CREATE INDEX payment_intents_customer ON payment_intents (customer_id, created_at DESC);

-- The credited payment names its gateway; the database allows one payment per gateway transaction.
ALTER TABLE payments ADD COLUMN gateway_id bigint REFERENCES payment_gateways (id);
CREATE UNIQUE INDEX payments_gateway_txn ON payments (gateway_id, txn_id) WHERE gateway_id IS NOT NULL;

-- Every callback, IPN, redirect, query and refund answer, with what was concluded and why (append-only).
-- operator_id is the gateway's owner (a forged callback may name no intent at all).
CREATE TABLE payment_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id),
    gateway_id bigint NOT NULL REFERENCES payment_gateways (id),
    intent_id bigint REFERENCES payment_intents (id),
    source text NOT NULL CHECK (source IN ('callback', 'ipn', 'redirect', 'query', 'refund', 'start')),
    outcome text NOT NULL
        CHECK (outcome IN ('credited', 'duplicate', 'pending', 'failed', 'rejected', 'error', 'started', 'refunded')),
    reason text NOT NULL DEFAULT '',
    params jsonb NOT NULL DEFAULT '{}',   -- what arrived / what the gateway answered (secrets never stored)
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_events_intent ON payment_events (intent_id, at);
CREATE INDEX payment_events_gateway ON payment_events (gateway_id, at);

CREATE TABLE payment_refunds (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id),
    intent_id bigint NOT NULL REFERENCES payment_intents (id),
    payment_id bigint NOT NULL REFERENCES payments (id),
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    status text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'done', 'failed')),
    gateway_refund_id text,
    requested_by bigint REFERENCES accounts (id),
    requested_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

-- A pay link in an SMS: an unguessable token (not a signed id: short, revocable, nothing to enumerate) for one
-- bill (or an advance amount), valid until expires_at.
CREATE TABLE pay_links (
    token text PRIMARY KEY CHECK (length(token) BETWEEN 16 AND 64),
    operator_id bigint NOT NULL REFERENCES operators (id),
    customer_id bigint NOT NULL REFERENCES customers (id),
    bill_id bigint REFERENCES bills (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX pay_links_bill ON pay_links (bill_id);

SELECT radbill_tenant_policies('payment_gateways', 'operator_id', 'lineage', 'subtree');
SELECT radbill_tenant_policies(t, 'operator_id', 'subtree', 'subtree')
  FROM unnest(ARRAY['payment_intents', 'payment_events', 'payment_refunds', 'pay_links']::regclass[]) AS t;
REVOKE UPDATE, DELETE ON payment_events FROM radbill_app;
