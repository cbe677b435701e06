-- Verified mobile-wallet transfers (issue 15 item 3): "Send Money to 01XXXXXXXXX and tell us the TrxID". An
-- operator lists its receiving numbers; a transfer waits as unverified until staff who can see that wallet's
-- statement confirm it (the payment is then recorded like cash) or reject it with a reason.

CREATE TABLE operator_wallets (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id),
    kind text NOT NULL CHECK (kind IN ('bkash', 'nagad', 'rocket', 'upay')),
    number text NOT NULL CHECK (number ~ '^\+8801[3-9][0-9]{8}$'),  -- E.164, as radbill.validate.mobile writes it
    label text NOT NULL DEFAULT '' CHECK (length(label) <= 80),
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (operator_id, kind, number)
);

CREATE TABLE wallet_transfers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id),   -- the customer's operator (the tenant)
    customer_id bigint NOT NULL REFERENCES customers (id),
    wallet_id bigint NOT NULL REFERENCES operator_wallets (id),
    sender_number text NOT NULL CHECK (sender_number ~ '^\+8801[3-9][0-9]{8}$'),
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    currency character(3) NOT NULL,
    trxid text NOT NULL CHECK (trxid ~ '^[A-Z0-9]{6,20}$'),
    status text NOT NULL DEFAULT 'unverified' CHECK (status IN ('unverified', 'confirmed', 'rejected')),
    reason text CHECK (length(reason) BETWEEN 1 AND 500),
    origin text NOT NULL DEFAULT 'staff' CHECK (origin IN ('staff', 'customer')),
    submitted_by bigint REFERENCES accounts (id),             -- NULL when the customer submitted it
    submitted_at timestamptz NOT NULL DEFAULT now(),
    decided_by bigint REFERENCES accounts (id),
    decided_at timestamptz,
    payment_id bigint UNIQUE REFERENCES payments (id),
    CHECK ((status = 'confirmed') = (payment_id IS NOT NULL)),
    CHECK ((status = 'rejected') = (reason IS NOT NULL)),
    CHECK ((status = 'unverified') = (decided_at IS NULL)),
    CHECK ((origin = 'staff') = (submitted_by IS NOT NULL))
);
-- A TrxID proves one transfer into one wallet: it can be claimed once, whatever the case it is typed in (a rejected
-- claim keeps it, so a refused TrxID cannot be tried again with another amount).
CREATE UNIQUE INDEX wallet_transfers_trxid ON wallet_transfers (wallet_id, upper(trxid));
CREATE INDEX wallet_transfers_queue ON wallet_transfers (operator_id, status, submitted_at);
CREATE INDEX wallet_transfers_customer ON wallet_transfers (customer_id, submitted_at DESC);

-- A sub-operator's customers pay into an ancestor's wallet: the wallet is lent down the tree (read by lineage).
SELECT radbill_tenant_policies('operator_wallets', 'operator_id', 'lineage', 'subtree');
SELECT radbill_tenant_policies('wallet_transfers', 'operator_id', 'subtree', 'subtree');
