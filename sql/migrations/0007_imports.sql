-- Customer imports (CSV/XLSX upload or a MikroTik's /ppp/secret): the uploaded table, the chosen mapping, the
-- background job's progress and, per row, what happened, so a batch can be rolled back exactly.

CREATE TABLE import_batches (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id         bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    created_by          bigint REFERENCES accounts (id) ON DELETE RESTRICT,
    source              text NOT NULL CHECK (source IN ('file', 'mikrotik')),
    filename            text NOT NULL DEFAULT '' CHECK (length(filename) <= 255),
    nas_id              bigint REFERENCES nas (id) ON DELETE SET NULL,
    headers             jsonb NOT NULL,                 -- ["Name", "Phone", ...]
    rows                jsonb NOT NULL,                 -- [[line, ["cell", ...]], ...] as read, before mapping
    mapping             jsonb NOT NULL DEFAULT '{}',    -- {"column index": "field"}
    defaults            jsonb NOT NULL DEFAULT '{}',    -- {"package_id": "7"} for unmapped fields
    bill                boolean NOT NULL DEFAULT false, -- initial bills now, or from the next cycle
    status              text NOT NULL DEFAULT 'uploaded'
                        CHECK (status IN ('uploaded', 'importing', 'done', 'failed', 'rolled_back')),
    total               integer NOT NULL DEFAULT 0 CHECK (total >= 0),
    processed           integer NOT NULL DEFAULT 0 CHECK (processed >= 0),
    created_count       integer NOT NULL DEFAULT 0 CHECK (created_count >= 0),
    failed_count        integer NOT NULL DEFAULT 0 CHECK (failed_count >= 0),
    skipped_count       integer NOT NULL DEFAULT 0 CHECK (skipped_count >= 0),
    rolled_back_count   integer NOT NULL DEFAULT 0 CHECK (rolled_back_count >= 0),
    error               text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    heartbeat_at        timestamptz,
    finished_at         timestamptz,
    rolled_back_at      timestamptz
);
CREATE INDEX import_batches_operator ON import_batches (operator_id, created_at);

-- One row per customer the batch created (and per row that failed at import time, customer_id NULL).
-- The username stays after a rollback deletes the customer, so the history still says who it was.
CREATE TABLE import_batch_items (
    batch_id            bigint NOT NULL REFERENCES import_batches (id) ON DELETE CASCADE,
    line                integer NOT NULL,
    customer_id         bigint REFERENCES customers (id) ON DELETE SET NULL,
    username            text,
    status              text NOT NULL CHECK (status IN ('created', 'failed', 'rolled_back', 'kept')),
    detail              jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (batch_id, line)
);
CREATE UNIQUE INDEX import_batch_items_customer ON import_batch_items (customer_id) WHERE customer_id IS NOT NULL;
