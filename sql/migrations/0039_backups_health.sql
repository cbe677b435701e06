-- Backups that restore, health and metrics (issue 19 items 1 and 2).

-- One row per backup attempt (scheduled or `radbill backup` through the scheduler): the group admin's dashboard
-- shows the newest success, /healthz and the stale-backup alert read the same rows. System-wide, no tenant.
CREATE TABLE backups (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    kind text NOT NULL CHECK (kind IN ('daily', 'weekly', 'manual')),
    ok boolean NOT NULL,
    path text,
    size_bytes bigint CHECK (size_bytes >= 0),
    error text,
    pruned_at timestamptz,                 -- removed by retention (the row stays: the history of what existed)
    CHECK (ok = (error IS NULL))
);
CREATE INDEX backups_newest_ok ON backups (finished_at DESC) WHERE ok;

-- The scheduler writes its heartbeat here every 10 seconds; /healthz calls it dead when the newest is a minute old.
-- One row per replica (host:pid); a replica gone for a day is deleted.
CREATE TABLE scheduler_heartbeats (
    replica text PRIMARY KEY,
    beat_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz NOT NULL DEFAULT now()
);

-- Per job: how often it ran, how long it took, how often it failed (Prometheus job duration metrics). The
-- scheduler adds to it after each run; the admin's /metrics reads it (the two are different processes).
CREATE TABLE job_runs (
    name text PRIMARY KEY,
    runs bigint NOT NULL DEFAULT 0,
    failures bigint NOT NULL DEFAULT 0,
    seconds_total double precision NOT NULL DEFAULT 0,
    last_seconds double precision,
    last_started_at timestamptz,
    last_ok boolean
);

GRANT SELECT, INSERT, UPDATE, DELETE ON backups, scheduler_heartbeats, job_runs TO radbill_app;

ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check CHECK (kind IN (
    'sms_no_gateway', 'sms_no_balance', 'sms_failed', 'sms_refused', 'router_unreachable', 'router_refused',
    'delivery_failed', 'backup_stale'));

-- pg_dump writes a trigger's WHEN clause as pg_get_triggerdef gives it, and `IS DISTINCT FROM` cannot carry a
-- schema-qualified operator: restored under pg_restore's empty search_path, ltree's `=` is not found and the
-- restore stops ("operator does not exist: public.ltree = public.ltree"). Comparing the text form is the same
-- test (an ltree's text is unique to it) with pg_catalog's operator.
DROP TRIGGER operators_path_cascade ON operators;
CREATE TRIGGER operators_path_cascade AFTER UPDATE ON operators
    FOR EACH ROW WHEN (OLD.path::text IS DISTINCT FROM NEW.path::text AND pg_trigger_depth() = 0)
    EXECUTE FUNCTION operators_cascade_path();

-- /metrics counts what the outbox sent and gave up on in the last hour, per lane: without these the scrape grouped
-- the whole history (4.7 s at a million rows, bench/ops_scrape.py); with them it reads the last hour's rows only.
CREATE INDEX outbox_done_at ON outbox (done_at) WHERE done_at IS NOT NULL;
CREATE INDEX outbox_failed_at ON outbox (failed_at) WHERE failed_at IS NOT NULL;
