-- What the RADIUS role needs of the objects migrations 0012 and 0014 added (0017 was written before them).
--
-- 0012: the accounting journal's wake-up trigger reads the worker's idle flag (it runs as the inserting role,
-- rlm_sql's radbill_radius), and the worker sets the flag.
GRANT SELECT, UPDATE ON radacct_fold_state TO radbill_radius;

-- 0014: radbill_enqueue (SECURITY INVOKER) marks the pending commands of a session that a new disconnect or CoA
-- supersedes: it reads these columns to find them and writes done_at/result. Nothing else of the outbox.
GRANT SELECT (id, kind, payload, dedupe_key, done_at, failed_at) ON outbox TO radbill_radius;
GRANT UPDATE (done_at, result) ON outbox TO radbill_radius;
CREATE POLICY radius_supersedes ON outbox FOR UPDATE TO radbill_radius
    USING (kind IN ('disconnect', 'coa')) WITH CHECK (kind IN ('disconnect', 'coa'));
