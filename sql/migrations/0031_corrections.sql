-- Corrections (issue 17, items 6 and 7): voiding a bill, reversing a payment, and the daily cash close.
-- Nothing here rewrites money: a void and a reversal post reversing ledger entries (radbill/services/corrections.py);
-- these columns and tables only say what was done, by whom and why.

-- A void keeps the bill (its number was printed and maybe sent) and says why it no longer counts.
ALTER TABLE bills ADD COLUMN voided_at timestamptz,
                  ADD COLUMN voided_by bigint REFERENCES accounts (id),
                  ADD COLUMN void_reason text CHECK (void_reason IS NULL OR length(void_reason) BETWEEN 1 AND 500),
                  ADD CONSTRAINT bills_void_has_reason CHECK ((status = 'void') = (voided_at IS NOT NULL AND void_reason IS NOT NULL)) NOT VALID,
                  ADD CONSTRAINT bills_void_holds_nothing CHECK (status <> 'void' OR paid_minor = 0) NOT VALID;

-- How much of a payment has been taken back; the CHECK is the last guard against reversing more than was paid.
ALTER TABLE payments ADD COLUMN reversed_minor bigint NOT NULL DEFAULT 0,
                     ADD CONSTRAINT payments_reversed_within CHECK (reversed_minor >= 0 AND reversed_minor <= amount_minor);

-- One row per reversal (a payment may be reversed in parts: a partial refund, then the rest). Append-only.
CREATE TABLE payment_reversals (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id),   -- the customer's operator (the tenant)
    customer_id bigint NOT NULL REFERENCES customers (id),
    payment_id bigint NOT NULL REFERENCES payments (id),
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    currency character(3) NOT NULL,
    reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    idempotency_key text UNIQUE,                             -- the confirm form's key: a double submit reverses once
    detail jsonb NOT NULL DEFAULT '{}',                      -- what it did (bills reopened, expiry, wholesale)
    created_by bigint REFERENCES accounts (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_reversals_payment ON payment_reversals (payment_id);
CREATE INDEX payment_reversals_created ON payment_reversals (operator_id, created_at);

-- A collector's day, closed: the figures as they stood (by method), what was handed over, and the difference.
-- Never updated: a later correction of that day is computed as an adjustment against these figures.
CREATE TABLE cash_closes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id),   -- the collector's operator (the tenant)
    collector_id bigint NOT NULL REFERENCES accounts (id),
    day date NOT NULL,                                       -- in the collector's operator's time zone
    currency character(3) NOT NULL,
    figures jsonb NOT NULL,                                  -- {"cash": {"count": n, "amount_minor": m}, ...}
    expected_minor bigint NOT NULL,                          -- cash in hand: what should be handed over
    handed_over_minor bigint NOT NULL CHECK (handed_over_minor >= 0),
    note text CHECK (note IS NULL OR length(note) <= 500),
    closed_by bigint REFERENCES accounts (id),
    closed_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (collector_id, day, currency)
);

SELECT radbill_tenant_policies(t, 'operator_id', 'subtree', 'subtree')
  FROM unnest(ARRAY['payment_reversals', 'cash_closes']::regclass[]) AS t;
REVOKE UPDATE, DELETE ON payment_reversals, cash_closes FROM radbill_app;
